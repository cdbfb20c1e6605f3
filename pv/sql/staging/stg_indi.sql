-- staging.stg_indi: one row per indication of one drug (indi_drug_seq links to DRUG.drug_seq).
create or replace view staging.stg_indi as
with source as (
    select * from raw.indi
),

typed as (
    select
        quarter,
        faers_int(primaryid) as primaryid,
        faers_int(caseid) as caseid,
        faers_int(indi_drug_seq) as drug_seq,
        faers_text(indi_pt) as indi_pt
    from source
),

final as (
    select * from faers_with_demo_caseid(typed)
)

select * from final
