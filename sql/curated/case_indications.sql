-- {{ident_table}}: one row per (case version, drug_seq, canonical indication PT) with its groups (oncology,
-- breast_cancer, unknown_indication), for the versions listed in {{ident_versions}}: curated.case_indications
-- over the retained versions, marts.history_version_indications over the versions a past quarter analysed.
create or replace table {{ident_table}} as
with versions as (
    select quarter, primaryid, caseid from {{ident_versions}}
),

indi as (
    select * from staging.stg_indi
),

indication_map as (
    select * from curated.indication_term_map
),

final as (
    select
        versions.caseid,
        indi.drug_seq,
        coalesce(indication_map.pt, indi.indi_pt) as pt,
        versions.primaryid,
        versions.quarter,
        any_value(indication_map.groups) as indication_groups
    from versions
    inner join indi on indi.quarter = versions.quarter and indi.primaryid = versions.primaryid
    left join indication_map on indication_map.raw = indi.indi_pt
    where indi.indi_pt is not null
    group by
        versions.caseid, versions.primaryid, versions.quarter, indi.drug_seq, coalesce(indication_map.pt, indi.indi_pt)
)

select * from final
