-- staging.stg_deleted_cases: every caseid FDA has deleted, from any quarter's list (FAQ #45).
create or replace view staging.stg_deleted_cases as
with source as (
    select * from raw.deleted_cases
),

final as (
    select
        faers_int(caseid) as caseid,
        min(quarter) as first_listed_quarter
    from source
    group by 1
)

select * from final
