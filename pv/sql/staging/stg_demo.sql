-- staging.stg_demo: one row per DEMO record (a case version), typed, with FDA's fillers made NULL.
-- Legacy AERS rows have no caseversion (FAERS supersedes them; dedup ranks them below any FAERS version).
create or replace view staging.stg_demo as
with source as (
    select * from raw.demo
),

countries as (
    select * from vocab.countries
),

typed as (
    select
        quarter,
        layout,
        faers_int(primaryid) as primaryid,
        primaryid as primaryid_text,
        faers_int(caseid) as caseid,
        faers_int(caseversion) as caseversion,
        upper(trim(i_f_code)) as i_f_code,
        faers_valid_date(event_dt) as event_dt,
        faers_date_precision(event_dt) as event_dt_precision,
        faers_valid_date(mfr_dt) as mfr_dt,
        faers_valid_date(init_fda_dt) as init_fda_dt,
        faers_valid_date(fda_dt) as fda_dt,
        faers_valid_date(rept_dt) as rept_dt,
        upper(trim(rept_cod)) as rept_cod,
        faers_text(auth_num) as auth_num,
        faers_text(mfr_num) as mfr_num,
        upper(faers_text(mfr_sndr)) as mfr_sndr,
        faers_text(lit_ref) as lit_ref,
        faers_age_years(age, age_cod) as age_years,
        faers_text(age) as age_raw,
        upper(trim(age_cod)) as age_cod,
        upper(trim(age_grp)) as age_grp,
        faers_sex(sex) as sex,
        faers_weight_kg(wt, wt_cod) as weight_kg,
        upper(trim(occp_cod)) as occp_cod,
        upper(trim(reporter_country)) as reporter_country_raw,
        upper(trim(occr_country)) as occr_country_raw,
        upper(trim(e_sub)) as e_sub,
        faers_int(foll_seq) as foll_seq
    from source
),

final as (
    select
        typed.*,
        -- ISO codes since FAERS; legacy AERS wrote names (faers_format.md §5). "COUNTRY NOT SPECIFIED"
        -- and "A1" are not countries (FAQ #21-22); "EU" (an EU member state not given) is kept.
        case
            when typed.reporter_country_raw in ('COUNTRY NOT SPECIFIED', 'A1', '') then null
            when length(typed.reporter_country_raw) = 2 then typed.reporter_country_raw
            else reporter.iso2
        end as reporter_country,
        case
            when typed.occr_country_raw in ('COUNTRY NOT SPECIFIED', 'A1', '') then null
            when length(typed.occr_country_raw) = 2 then typed.occr_country_raw
            else occurrence.iso2
        end as occr_country,
        -- MD, PH, OT (other health professional) and HP (which replaced OT in 2020) and RN are health
        -- professionals; CN consumers; LW lawyers (faers_format.md §4.1).
        case
            when typed.occp_cod in ('MD', 'PH', 'OT', 'HP', 'RN') then 'health_professional'
            when typed.occp_cod = 'CN' then 'consumer'
            when typed.occp_cod = 'LW' then 'lawyer'
        end as reporter_type
    from typed
    left join countries as reporter on reporter.name = typed.reporter_country_raw
    left join countries as occurrence on occurrence.name = typed.occr_country_raw
)

select * from final
