-- curated.case_events: one row per (retained case, canonical PT) with its event groups (dm_narrow, dm_broad…).
-- INDI terms are never events (vocabulary.md §6.3).
create or replace table curated.case_events as
with retained as (
    select quarter, primaryid, caseid from curated.case_versions where dedup_status = 'retained'
),

reac as (
    select * from staging.stg_reac
),

event_map as (
    select * from curated.event_term_map
),

final as (
    select
        retained.caseid,
        any_value(retained.primaryid) as primaryid,
        any_value(retained.quarter) as quarter,
        coalesce(event_map.pt, reac.pt) as pt,
        any_value(event_map.groups) as event_groups,
        list_sort(list_distinct(list(reac.pt))) as raw_terms
    from retained
    inner join reac on reac.quarter = retained.quarter and reac.primaryid = retained.primaryid
    left join event_map on event_map.raw = reac.pt
    where reac.pt is not null
    group by retained.caseid, coalesce(event_map.pt, reac.pt)
)

select * from final
