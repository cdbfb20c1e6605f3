-- {{ident_table}}: one row per (case version, event level, event) of the terms in {{ident_events}}
-- (marts.case_outcomes: today's retained versions; marts.history_version_outcomes: the versions past
-- quarters analysed): each canonical PT, and each event group (dm_narrow, dm_broad, …) the case has a PT
-- in. A case is "with event" once, however many PTs match.
create or replace table {{ident_table}} as
with events as (
    select * from {{ident_events}}
),

by_pt as (
    select distinct caseid, quarter, primaryid, 'pt' as event_level, pt as event from events
),

by_group as (
    select distinct caseid, quarter, primaryid, 'group' as event_level, unnest(event_groups) as event
    from events
    where len(event_groups) > 0
),

final as (
    select * from by_pt
    union all
    select * from by_group
)

select * from final
