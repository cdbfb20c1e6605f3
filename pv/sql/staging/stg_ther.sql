-- staging.stg_ther: therapy periods of one drug (dsg_drug_seq links to DRUG.drug_seq); dates keep their
-- precision, since therapy dates were never padded (faers_format.md §4.6).
create or replace view staging.stg_ther as
with source as (
    select * from raw.ther
),

typed as (
    select
        quarter,
        faers_int(primaryid) as primaryid,
        faers_int(caseid) as caseid,
        faers_int(dsg_drug_seq) as drug_seq,
        faers_valid_date(start_dt) as start_dt,
        faers_date_precision(start_dt) as start_dt_precision,
        faers_valid_date(end_dt) as end_dt,
        faers_date_precision(end_dt) as end_dt_precision,
        faers_num(dur) as dur,
        upper(trim(dur_cod)) as dur_cod
    from source
),

final as (
    select * from faers_with_demo_caseid(typed)
)

select * from final
