-- The link keys (curated/link_keys.sql, in {{ident_keys}}) of the versions a quarterly run at each past
-- quarter analysed: one row per quarter in which the key's version was live (marts.version_lifetimes), with
-- that quarter as the snapshot. Only keys ever held by two different cases can tie anything, so only those
-- are expanded; curated/duplicate_links.sql then decides per quarter, as that run would have.
with keys as (
    select * from {{ident_keys}}
),

shared as (
    select link_key from keys group by link_key having count(distinct caseid) > 1
),

lifetimes as (
    select * from marts.version_lifetimes
),

quarters as (
    -- from {{from_quarter}} on ('' for every quarter): an incremental build re-flags only those
    select distinct quarter as snapshot from staging.stg_demo where quarter >= {{from_quarter}}
),

final as (
    select quarters.snapshot, keys.*
    from keys
    semi join shared using (link_key)
    inner join lifetimes using (quarter, primaryid, caseid)
    inner join quarters
        on quarters.snapshot >= lifetimes.live_from
        and (lifetimes.live_to is null or quarters.snapshot < lifetimes.live_to)
)

select * from final
