-- Link keys of case versions that may be the same event sent by several reporters (faers_format.md §9.2):
-- one row per (version, key) for the versions listed in {{ident_versions}}, their drugs in {{ident_drugs}}
-- and their terms in {{ident_events}}. curated/duplicate_links.sql decides, within each snapshot (a
-- population analysed together), which keys tie cases.
--   rule "aeolus": same event date, age (to 0.01 year), sex, reporter country, ingredient set and PT set, none
--     of them missing (NULL never matches).
--   rule "mfr_num": same manufacturer control number from the same sender.
-- A version whose date, age, sex and country no other case shares cannot match on the AEOLUS key, so its
-- ingredient and PT sets are never assembled (most versions: the sets are the expensive part).
with chosen as (
    select distinct quarter, primaryid, caseid from {{ident_versions}}
),

versions as (
    select case_versions.*
    from curated.case_versions
    inner join chosen using (quarter, primaryid, caseid)
    -- a DEMO record published twice in one quarter: the better-ranked copy is the version
    qualify row_number() over (partition by quarter, primaryid, caseid order by version_rank) = 1
),

demographics as (
    select quarter, primaryid, caseid, event_dt, round(age_years, 2) as age_key, sex, reporter_country
    from versions
    where event_dt is not null and age_years is not null and sex is not null and reporter_country is not null
),

-- Plain grouped aggregates rather than a windowed count(distinct): these spill to disk, which a distinct
-- window aggregate does not (the full history ran out of memory under the 4 GB cap).
shared_demographics as (
    select event_dt, age_key, sex, reporter_country
    from (select distinct event_dt, age_key, sex, reporter_country, caseid from demographics)
    group by event_dt, age_key, sex, reporter_country
    having count(*) > 1
),

aeolus_candidates as (
    select quarter, primaryid, caseid
    from demographics
    semi join shared_demographics using (event_dt, age_key, sex, reporter_country)
),

ingredient_sets as (
    select quarter, primaryid, caseid, string_agg(distinct ingredient, '|' order by ingredient) as ingredients
    from {{ident_drugs}}
    semi join aeolus_candidates using (quarter, primaryid, caseid)
    where ingredient is not null
    group by quarter, primaryid, caseid
),

pt_sets as (
    select quarter, primaryid, caseid, string_agg(distinct lower(pt), '|' order by lower(pt)) as pts
    from {{ident_events}}
    semi join aeolus_candidates using (quarter, primaryid, caseid)
    group by quarter, primaryid, caseid
),

aeolus_keys as (
    select
        versions.quarter,
        versions.primaryid,
        versions.caseid,
        versions.fda_dt,
        versions.sex,
        versions.age_years,
        'aeolus' as rule,
        'aeolus#' || concat_ws(
            '#', versions.event_dt, round(versions.age_years, 2), versions.sex, versions.reporter_country,
            ingredient_sets.ingredients, pt_sets.pts
        ) as link_key,
        faers_may_be_padded(versions.event_dt) as padded_date
    from versions
    inner join ingredient_sets using (quarter, primaryid, caseid)
    inner join pt_sets using (quarter, primaryid, caseid)
    where versions.event_dt is not null
        and versions.age_years is not null
        and versions.sex is not null
        and versions.reporter_country is not null
),

mfr_keys as (
    select
        quarter,
        primaryid,
        caseid,
        fda_dt,
        sex,
        age_years,
        'mfr_num' as rule,
        'mfr#' || upper(trim(mfr_sndr)) || '#' || upper(trim(mfr_num)) as link_key,
        null::boolean as padded_date
    from versions
    where mfr_num is not null and mfr_sndr is not null
),

final as (
    select * from aeolus_keys
    union all
    select * from mfr_keys
)

select * from final
