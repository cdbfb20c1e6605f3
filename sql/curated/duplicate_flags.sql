-- curated.duplicate_flags: retained cases in a cross-case duplicate group. The copy FDA received last
-- (latest fda_dt, then highest caseid) is kept as the group's representative; the others are flagged,
-- never deleted, so every analysis can run with and without them.
create or replace table curated.duplicate_flags as
with components as (
    select * from duplicate_components
),

cases as (
    select caseid, fda_dt from curated.case_versions where dedup_status = 'retained'
),

ranked as (
    select
        components.caseid,
        components.duplicate_group,
        components.duplicate_rules,
        row_number() over (
            partition by components.duplicate_group order by cases.fda_dt desc nulls last, components.caseid desc
        ) as group_rank,
        count(*) over (partition by components.duplicate_group) as group_size
    from components
    inner join cases using (caseid)
),

final as (
    select
        caseid,
        duplicate_group,
        duplicate_rules,
        group_size,
        group_rank > 1 as is_duplicate
    from ranked
)

select * from final
