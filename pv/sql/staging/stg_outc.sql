-- staging.stg_outc: serious outcomes of a case version (DE, LT, HO, DS, CA, RI, OT); 2012Q4 header outc_code.
create or replace view staging.stg_outc as
with source as (
    select * from raw.outc
),

final as (
    select
        quarter,
        faers_int(primaryid) as primaryid,
        upper(trim(outc_cod)) as outc_cod
    from source
)

select * from final
