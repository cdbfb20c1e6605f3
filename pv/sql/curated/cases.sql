-- curated.cases: one row per retained case (its latest version), with demographics, reporter, dates,
-- seriousness and outcomes, the cross-case duplicate flag, and whether any drug was given for cancer.
create or replace table curated.cases as
with retained as (
    select * from curated.case_versions where dedup_status = 'retained'
),

outcomes as (
    select quarter, primaryid, list_sort(list_distinct(list(outc_cod))) as outcomes
    from staging.stg_outc
    where outc_cod is not null
    group by quarter, primaryid
),

duplicates as (
    select * from curated.duplicate_flags
),

indications as (
    select
        caseid,
        bool_or(list_contains(indication_groups, 'oncology')) as has_oncology_indication,
        bool_or(list_contains(indication_groups, 'breast_cancer')) as has_breast_cancer_indication
    from curated.case_indications
    group by caseid
),

final as (
    select
        retained.caseid,
        retained.primaryid,
        retained.quarter,
        retained.layout,
        retained.caseversion,
        retained.i_f_code,
        retained.init_fda_dt,
        retained.fda_dt,
        retained.event_dt,
        retained.event_dt_precision,
        retained.age_years,
        retained.sex,
        retained.weight_kg,
        retained.reporter_country,
        retained.occr_country,
        retained.occp_cod,
        retained.reporter_type,
        retained.rept_cod,
        retained.mfr_sndr,
        retained.mfr_num,
        coalesce(outcomes.outcomes, []::varchar[]) as outcomes,
        -- OUTC lists serious outcomes only, so a case with none is not serious (ALTIO not-given).
        outcomes.outcomes is not null as serious,
        coalesce(list_contains(outcomes.outcomes, 'DE'), false) as died,
        coalesce(duplicates.is_duplicate, false) as is_duplicate,
        duplicates.duplicate_group,
        duplicates.duplicate_rules,
        coalesce(indications.has_oncology_indication, false) as has_oncology_indication,
        coalesce(indications.has_breast_cancer_indication, false) as has_breast_cancer_indication
    from retained
    left join outcomes on outcomes.quarter = retained.quarter and outcomes.primaryid = retained.primaryid
    left join duplicates on duplicates.caseid = retained.caseid
    left join indications on indications.caseid = retained.caseid
)

select * from final
