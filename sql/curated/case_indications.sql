-- curated.case_indications: one row per (retained case, drug_seq, canonical indication PT) with its groups
-- (oncology, breast_cancer, unknown_indication).
create or replace table curated.case_indications as
with retained as (
    select quarter, primaryid, caseid from curated.case_versions where dedup_status = 'retained'
),

indi as (
    select * from staging.stg_indi
),

indication_map as (
    select * from curated.indication_term_map
),

final as (
    select
        retained.caseid,
        indi.drug_seq,
        coalesce(indication_map.pt, indi.indi_pt) as pt,
        any_value(retained.primaryid) as primaryid,
        any_value(retained.quarter) as quarter,
        any_value(indication_map.groups) as indication_groups
    from retained
    inner join indi on indi.quarter = retained.quarter and indi.primaryid = retained.primaryid
    left join indication_map on indication_map.raw = indi.indi_pt
    where indi.indi_pt is not null
    group by retained.caseid, indi.drug_seq, coalesce(indication_map.pt, indi.indi_pt)
)

select * from final
