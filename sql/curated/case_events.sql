-- {{ident_table}}: one row per (case version, canonical PT) with its event groups (dm_narrow, dm_broad…), for
-- the versions listed in {{ident_versions}}: curated.case_events over the retained versions,
-- marts.history_version_events over the versions a past quarter analysed (see curated/case_drugs.sql).
-- INDI terms are never events (vocabulary.md §6.3).
create or replace table {{ident_table}} as
with versions as (
    select quarter, primaryid, caseid from {{ident_versions}}
),

reac as (
    select * from staging.stg_reac
),

event_map as (
    select * from curated.event_term_map
),

final as (
    select
        versions.caseid,
        versions.primaryid,
        versions.quarter,
        coalesce(event_map.pt, reac.pt) as pt,
        any_value(event_map.groups) as event_groups,
        list_sort(list_distinct(list(reac.pt))) as raw_terms
    from versions
    inner join reac on reac.quarter = versions.quarter and reac.primaryid = versions.primaryid
    left join event_map on event_map.raw = reac.pt
    where reac.pt is not null
    group by versions.caseid, versions.primaryid, versions.quarter, coalesce(event_map.pt, reac.pt)
)

select * from final
