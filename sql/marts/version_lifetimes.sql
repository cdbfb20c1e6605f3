-- marts.version_lifetimes: when each case version was the one a quarterly run would have analysed.
-- A run at quarter Q sees the DEMO records published up to Q and the deleted-case lists published up to Q,
-- and applies FDA's minimum de-duplication to them (curated/case_versions.sql): the case's best-ranked
-- published version (version_rank), unless the case is on a list by then; a legacy ISR filed under several
-- CASE numbers stays only with its latest live record. Each row is an interval [live_from, live_to) of
-- quarters (live_to null: still live in the latest quarter, i.e. the retained version). A version outranked
-- by one published earlier (a late-arriving older version) never lives and has no row.
create or replace table marts.version_lifetimes as
with versions as (
    select quarter, primaryid, caseid, layout, fda_dt, version_rank, dedup_status
    from curated.case_versions
    where dedup_status <> 'missing_caseid'
),

deleted as (
    select caseid, first_listed_quarter from staging.stg_deleted_cases
),

quarters as (
    select quarter, lead(quarter) over (order by quarter) as next_quarter
    from (select distinct quarter from staging.stg_demo)
),

bounded as (
    select
        versions.*,
        -- the case stops being this version when a better-ranked one is published or the case is deleted
        least(
            min(versions.quarter) over (
                partition by versions.caseid order by versions.version_rank
                rows between unbounded preceding and 1 preceding
            ),
            deleted.first_listed_quarter
        ) as live_to
    from versions
    left join deleted using (caseid)
),

lived as (
    select * from bounded where live_to is null or live_to > quarter
),

isr_conflicts as (
    -- legacy ISRs filed under several case numbers: decided quarter by quarter
    select primaryid
    from lived
    where layout = 'laers'
    group by primaryid
    having count(distinct caseid) > 1
),

isr_quarters as (
    select
        lived.quarter,
        lived.primaryid,
        lived.caseid,
        lived.dedup_status,
        quarters.quarter as live_from,
        quarters.next_quarter as live_to,
        row_number() over (
            partition by quarters.quarter, lived.primaryid
            order by lived.quarter desc, lived.fda_dt desc nulls last, lived.caseid desc
        ) as isr_rank
    from lived
    inner join quarters
        on quarters.quarter >= lived.quarter and (lived.live_to is null or quarters.quarter < lived.live_to)
    where lived.layout = 'laers' and lived.primaryid in (select primaryid from isr_conflicts)
),

final as (
    select quarter, primaryid, caseid, dedup_status, quarter as live_from, live_to
    from lived
    where not (layout = 'laers' and primaryid in (select primaryid from isr_conflicts))
    union all
    select quarter, primaryid, caseid, dedup_status, live_from, live_to
    from isr_quarters
    where isr_rank = 1
)

select * from final
