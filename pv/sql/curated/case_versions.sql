-- curated.case_versions: every DEMO record with its fate under FDA's minimum de-duplication
-- (faers_format.md §9.1):
--   1. cases on any deleted-case list are removed (FAQ #45);
--   2. per caseid the latest version is kept: FAERS over legacy AERS for the same case number, then the
--      highest numeric caseversion (never the text order of primaryid, §8 item 5), then the latest quarter,
--      the latest fda_dt and the highest primaryid. The same version arriving in two quarters keeps the later.
--   3. a legacy ISR filed under two CASE numbers (faersdbstats#8) stays only with its latest record.
-- Records without a caseid cannot be de-duplicated and are set aside, never joined on a NULL key.
-- {{ident_demo}}: the DEMO records ranked (staging.stg_demo). Each case's rank, and each legacy ISR's, is
-- decided among its own records, so an incremental build ranks again only the records of the cases the new
-- quarter touches (pv.build, _case_versions) and keeps the others' rows.
create or replace table {{ident_table}} as
with demo as (
    select * from {{ident_demo}}
),

deleted as (
    select caseid from staging.stg_deleted_cases
),

ranked as (
    select
        demo.*,
        deleted.caseid is not null as is_deleted,
        row_number() over (
            partition by demo.caseid
            order by
                demo.layout = 'faers' desc,
                demo.caseversion desc nulls last,
                demo.quarter desc,
                demo.fda_dt desc nulls last,
                demo.primaryid desc
        ) as version_rank
    from demo
    left join deleted on deleted.caseid = demo.caseid
    where demo.caseid is not null
),

isr_conflicts as (
    -- Among otherwise retained legacy records, one ISR under several caseids keeps its latest record.
    select
        quarter,
        primaryid,
        caseid,
        row_number() over (
            partition by primaryid order by quarter desc, fda_dt desc nulls last, caseid desc
        ) as isr_rank
    from ranked
    where layout = 'laers' and version_rank = 1 and not is_deleted
),

without_caseid as (
    select demo.*, false as is_deleted, null::bigint as version_rank
    from demo
    where demo.caseid is null
),

final as (
    select
        ranked.*,
        case
            when ranked.is_deleted then 'deleted'
            when ranked.version_rank > 1 then 'superseded'
            when isr_conflicts.isr_rank > 1 then 'isr_conflict'
            else 'retained'
        end as dedup_status
    from ranked
    left join isr_conflicts
        on isr_conflicts.quarter = ranked.quarter
        and isr_conflicts.primaryid = ranked.primaryid
        and isr_conflicts.caseid = ranked.caseid
    union all by name
    select *, 'missing_caseid' as dedup_status from without_caseid
)

select * from final
