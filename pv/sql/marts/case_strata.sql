-- marts.case_strata: the confounder stratum of every case version that enters an analysis population
-- (marts.analysis_cases): sex x age band x report year, with the bands of vocab.stratum_bands
-- (pv/data/vocab/stratum_bands.csv). Unknown sex and unknown age are strata of their own. The report year is
-- the year FDA first received the case (init_fda_dt), so every version of a case stays in one year; legacy
-- AERS records have no init_fda_dt (faers_format.md §5) and use fda_dt, and a record with neither the year
-- of its quarter. The stratified statistics (marts.stratified_counts) pool over these strata.
create or replace table marts.case_strata as
with versions as (
    select distinct caseid, quarter, primaryid from marts.analysis_cases
),

demographics as (
    select quarter, primaryid, sex, age_years, init_fda_dt, fda_dt from curated.case_versions
),

bands as (
    select * from vocab.stratum_bands
),

sex_bands as (
    select band from bands where dimension = 'sex' and band <> 'unknown'
),

age_bands as (
    select band, lower::double as lower, upper::double as upper
    from bands
    where dimension = 'age' and band <> 'unknown'
),

first_year as (
    select lower::integer as first_year from bands where dimension = 'year' and band = 'each'
),

early_year as (
    select band as early_band from bands where dimension = 'year' and band <> 'each'
),

dated as (
    select
        versions.caseid,
        versions.quarter,
        versions.primaryid,
        demographics.sex,
        demographics.age_years,
        coalesce(
            year(demographics.init_fda_dt), year(demographics.fda_dt), left(versions.quarter, 4)::integer
        ) as report_year
    from versions
    inner join demographics using (quarter, primaryid)
),

banded as (
    select
        dated.caseid,
        dated.quarter,
        dated.primaryid,
        coalesce(sex_bands.band, 'unknown') as sex_band,
        coalesce(age_bands.band, 'unknown') as age_band,
        case
            when dated.report_year < first_year.first_year then early_year.early_band
            else dated.report_year::varchar
        end as year_band
    from dated
    cross join first_year
    cross join early_year
    left join sex_bands on sex_bands.band = dated.sex
    left join age_bands
        on dated.age_years >= age_bands.lower
        and (age_bands.upper is null or dated.age_years < age_bands.upper)
),

final as (
    select *, concat_ws(' | ', sex_band, age_band, year_band) as stratum
    from banded
)

select * from final
