-- marts.stratified_cases: today's analysed cases (the rows of marts.analysis_cases still live) with what
-- places them in the analysis populations (duplicate flag, a drug given for cancer / breast cancer, a suspect
-- drug; pv_in_duplicates, pv_in_comparator, pv_in_role) and their confounder stratum (marts.case_strata).
-- The one population the stratified counts, the target-specific variants and the signal checks count from.
create or replace view marts.stratified_cases as
with analysis as (
    select * from marts.analysis_cases where live_to is null
),

strata as (
    select * from marts.case_strata
),

final as (
    select
        analysis.caseid,
        analysis.is_duplicate,
        analysis.has_oncology_indication as oncology,
        analysis.has_breast_cancer_indication as breast_cancer,
        analysis.has_suspect_drug as suspect,
        strata.stratum
    from analysis
    inner join strata using (quarter, primaryid)
)

select * from final
