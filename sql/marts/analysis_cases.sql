-- marts.analysis_cases: what each case version contributes to the analysis populations, and when. One row
-- per interval [live_from, live_to) of quarters in which the version was the one a quarterly run analysed
-- (marts.version_lifetimes) and its stratum stayed the same: is_duplicate (the flag that run set,
-- marts.duplicate_flags_by_quarter), has_oncology_indication / has_breast_cancer_indication (some drug of the
-- version given for it) and has_suspect_drug (some drug a primary or secondary suspect).
-- N (statistics.md §1): a version belongs to a population only with at least one drug that counts as an
-- exposure (any role but "drug not administered"; for the suspect role, a suspect drug) and at least one
-- event term. Today's population is the rows with live_to null; the population at a past quarter Q is the
-- rows live at Q, so every count at Q is a sum of contributions (+1 at live_from, -1 at live_to).
create or replace table marts.analysis_cases as
with lifetimes as (
    select * from marts.version_lifetimes
),

quarters as (
    select
        quarter,
        row_number() over (order by quarter) as ordinal,
        lead(quarter) over (order by quarter) as next_quarter
    from (select distinct quarter from staging.stg_demo)
),

flags as (
    select as_of, caseid, is_duplicate from marts.duplicate_flags_by_quarter
),

exposed as (
    select quarter, primaryid, caseid, bool_or(is_suspect) as has_suspect_drug
    from marts.version_drugs
    where coalesce(role_cod, '') <> 'DN'
    group by quarter, primaryid, caseid
),

with_events as (
    select distinct quarter, primaryid, caseid from marts.version_events
),

indications as (
    select
        quarter,
        primaryid,
        caseid,
        bool_or(list_contains(indication_groups, 'oncology')) as has_oncology_indication,
        bool_or(list_contains(indication_groups, 'breast_cancer')) as has_breast_cancer_indication
    from marts.version_indications
    group by quarter, primaryid, caseid
),

steady as (
    -- cases no quarterly run ever put in a duplicate group
    select quarter, primaryid, caseid, live_from, live_to, false as is_duplicate
    from lifetimes
    where caseid not in (select caseid from flags)
),

by_quarter as (
    -- the others, quarter by quarter with the flag of that quarter's run
    select
        lifetimes.quarter,
        lifetimes.primaryid,
        lifetimes.caseid,
        quarters.quarter as as_of,
        quarters.ordinal,
        coalesce(flags.is_duplicate, false) as is_duplicate
    from lifetimes
    inner join quarters
        on quarters.quarter >= lifetimes.live_from
        and (lifetimes.live_to is null or quarters.quarter < lifetimes.live_to)
    left join flags on flags.as_of = quarters.quarter and flags.caseid = lifetimes.caseid
    where lifetimes.caseid in (select caseid from flags)
),

runs as (
    -- consecutive quarters with the same flag are one interval
    select
        quarter,
        primaryid,
        caseid,
        is_duplicate,
        min(as_of) as live_from,
        max(ordinal) as last_ordinal
    from (
        select
            *,
            ordinal - row_number() over (
                partition by quarter, primaryid, caseid, is_duplicate order by ordinal
            ) as run
        from by_quarter
    )
    group by quarter, primaryid, caseid, is_duplicate, run
),

contributions as (
    select * from steady
    union all by name
    select runs.quarter, runs.primaryid, runs.caseid, runs.live_from, quarters.next_quarter as live_to, runs.is_duplicate
    from runs
    inner join quarters on quarters.ordinal = runs.last_ordinal
),

final as (
    select
        contributions.caseid,
        contributions.quarter,
        contributions.primaryid,
        contributions.live_from,
        contributions.live_to,
        contributions.is_duplicate,
        coalesce(indications.has_oncology_indication, false) as has_oncology_indication,
        coalesce(indications.has_breast_cancer_indication, false) as has_breast_cancer_indication,
        exposed.has_suspect_drug
    from contributions
    inner join exposed using (quarter, primaryid, caseid)
    inner join with_events using (quarter, primaryid, caseid)
    left join indications using (quarter, primaryid, caseid)
)

select * from final
