-- marts.analysis_cases: every retained case with what decides which analysis populations it belongs to.
-- first_quarter is the first quarter any version of the case was published: the case counts in the
-- cumulative statistics from that quarter on (signal history).
create or replace table marts.analysis_cases as
with cases as (
    select * from curated.cases
),

first_seen as (
    select caseid, min(quarter) as first_quarter
    from curated.case_versions
    where caseid is not null
    group by caseid
),

final as (
    select
        cases.caseid,
        first_seen.first_quarter,
        cases.is_duplicate,
        cases.has_oncology_indication,
        cases.has_breast_cancer_indication
    from cases
    inner join first_seen using (caseid)
)

select * from final
