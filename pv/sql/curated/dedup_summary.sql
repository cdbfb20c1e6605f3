-- curated.dedup_summary: per quarter, how many DEMO records each de-duplication step removed or flagged.
create or replace table curated.dedup_summary as
with versions as (
    select * from curated.case_versions
),

flags as (
    select * from curated.duplicate_flags
),

final as (
    select
        versions.quarter,
        count(*) as demo_records,
        count(*) filter (where versions.dedup_status = 'deleted') as removed_deleted,
        count(*) filter (where versions.dedup_status = 'superseded') as removed_superseded,
        count(*) filter (where versions.dedup_status = 'isr_conflict') as removed_isr_conflict,
        count(*) filter (where versions.dedup_status = 'missing_caseid') as set_aside_missing_caseid,
        count(*) filter (where versions.dedup_status = 'retained') as retained_cases,
        count(*) filter (where flags.is_duplicate) as flagged_duplicates,
        count(*) filter (where flags.is_duplicate and list_contains(flags.duplicate_rules, 'aeolus'))
            as flagged_by_aeolus_key,
        count(*) filter (where flags.is_duplicate and list_contains(flags.duplicate_rules, 'mfr_num'))
            as flagged_by_mfr_num
    from versions
    left join flags on flags.caseid = versions.caseid and versions.dedup_status = 'retained'
    group by versions.quarter
)

select * from final order by quarter
