-- Cases in a cross-case duplicate group, per snapshot (curated.duplicate_flags for today's cases,
-- marts.duplicate_flags_by_quarter for each past quarter). The copy FDA received last (latest fda_dt, then
-- highest caseid) is kept as the group's representative; the others are flagged, never deleted, so every
-- analysis can run with and without them. Reads the groups pv.dedup registers as duplicate_components and
-- the versions' fda_dt from the link keys {{ident_keys}}.
with components as (
    select * from duplicate_components
),

cases as (
    select distinct snapshot, caseid, fda_dt from {{ident_keys}}
),

ranked as (
    select
        components.snapshot,
        components.caseid,
        components.duplicate_group,
        components.duplicate_rules,
        row_number() over (
            partition by components.snapshot, components.duplicate_group
            order by cases.fda_dt desc nulls last, components.caseid desc
        ) as group_rank,
        count(*) over (partition by components.snapshot, components.duplicate_group) as group_size
    from components
    inner join cases using (snapshot, caseid)
),

final as (
    select
        snapshot,
        caseid,
        duplicate_group,
        duplicate_rules,
        group_size,
        group_rank > 1 as is_duplicate
    from ranked
)

select * from final
