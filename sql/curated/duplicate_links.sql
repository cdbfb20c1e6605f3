-- Links between cases that look like the same event sent by several reporters (faers_format.md §9.2), per
-- snapshot: today's retained cases, or the versions a run at one past quarter analysed. {{ident_keys}} holds
-- the link keys (curated/link_keys.sql) with their snapshot. Cases sharing a key within a snapshot, directly
-- or through other cases, are one duplicate group (pv.dedup takes the transitive closure).
--   rule "aeolus": groups of 8 or more whose date is padded (a 1st of the month, or only a month or year) are
--     left alone: padding makes unrelated reports agree (ALTIO dup-padded-event-dates).
--   rule "mfr_num": not when the group mixes F and M or its known ages span more than 2 years
--     (ALTIO dup-manufacturer-number).
with keys as (
    select * from {{ident_keys}}
),

aeolus_groups as (
    select snapshot, link_key, count(*) as members, bool_or(padded_date) as padded
    from keys
    where rule = 'aeolus'
    group by snapshot, link_key
    having count(*) > 1
),

mfr_groups as (
    select snapshot, link_key
    from keys
    where rule = 'mfr_num'
    group by snapshot, link_key
    having count(distinct caseid) > 1
        and count(distinct sex) <= 1
        and coalesce(max(age_years) - min(age_years), 0) <= 2
),

final as (
    select keys.snapshot, keys.caseid, keys.link_key, keys.rule
    from keys
    inner join aeolus_groups using (snapshot, link_key)
    where not (aeolus_groups.members >= 8 and aeolus_groups.padded)
    union all
    select keys.snapshot, keys.caseid, keys.link_key, keys.rule
    from keys
    inner join mfr_groups using (snapshot, link_key)
)

select * from final
