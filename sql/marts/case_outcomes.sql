-- marts.case_outcomes: one row per (case, event level, event): each canonical PT, and each event group
-- (dm_narrow, dm_broad, …) the case has a PT in. A case is "with event" once, however many PTs match.
create or replace table marts.case_outcomes as
with events as (
    select * from curated.case_events
),

by_pt as (
    select distinct caseid, 'pt' as event_level, pt as event from events
),

by_group as (
    select distinct caseid, 'group' as event_level, unnest(event_groups) as event
    from events
    where len(event_groups) > 0
),

final as (
    select * from by_pt
    union all
    select * from by_group
)

select * from final
