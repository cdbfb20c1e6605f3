-- Links between retained cases that look like the same event sent by several reporters
-- (faers_format.md §9.2). Each row ties a case to a link key; cases sharing a key, directly or through
-- other cases, are one duplicate group (pv.dedup takes the transitive closure).
--   rule "aeolus": same event date, age (to 0.01 year), sex, reporter country, ingredient set and PT set, none
--     of them missing (NULL never matches). Groups of 8 or more whose date is padded (a 1st of the month, or
--     only a month or year) are left alone: padding makes unrelated reports agree (ALTIO dup-padded-event-dates).
--   rule "mfr_num": same manufacturer control number from the same sender, unless the group mixes F and M or
--     its known ages span more than 2 years (ALTIO dup-manufacturer-number).
with cases as (
    select * from curated.case_versions where dedup_status = 'retained'
),

ingredient_sets as (
    select caseid, string_agg(distinct ingredient, '|' order by ingredient) as ingredients
    from curated.case_drugs
    where ingredient is not null
    group by caseid
),

pt_sets as (
    select caseid, string_agg(distinct lower(pt), '|' order by lower(pt)) as pts
    from curated.case_events
    group by caseid
),

aeolus_keys as (
    select
        cases.caseid,
        cases.event_dt,
        cases.event_dt_precision,
        concat_ws(
            '#', cases.event_dt, round(cases.age_years, 2), cases.sex, cases.reporter_country,
            ingredient_sets.ingredients, pt_sets.pts
        ) as link_key
    from cases
    inner join ingredient_sets using (caseid)
    inner join pt_sets using (caseid)
    where cases.event_dt is not null
        and cases.age_years is not null
        and cases.sex is not null
        and cases.reporter_country is not null
),

aeolus_groups as (
    select
        link_key,
        count(*) as members,
        bool_or(day(event_dt) = 1 or event_dt_precision <> 'day') as padded_date
    from aeolus_keys
    group by link_key
    having count(*) > 1
),

mfr_keys as (
    select
        caseid,
        sex,
        age_years,
        'mfr#' || upper(trim(mfr_sndr)) || '#' || upper(trim(mfr_num)) as link_key
    from cases
    where mfr_num is not null and mfr_sndr is not null
),

mfr_groups as (
    select link_key
    from mfr_keys
    group by link_key
    having count(distinct caseid) > 1
        and count(distinct sex) <= 1
        and coalesce(max(age_years) - min(age_years), 0) <= 2
),

final as (
    select aeolus_keys.caseid, 'aeolus#' || aeolus_keys.link_key as link_key, 'aeolus' as rule
    from aeolus_keys
    inner join aeolus_groups using (link_key)
    where not (aeolus_groups.members >= 8 and aeolus_groups.padded_date)
    union all
    select mfr_keys.caseid, mfr_keys.link_key, 'mfr_num' as rule
    from mfr_keys
    inner join mfr_groups using (link_key)
)

select * from final
