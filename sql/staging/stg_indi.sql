-- staging.stg_indi: one row per indication of one drug (indi_drug_seq links to DRUG.drug_seq).
create or replace view staging.stg_indi as
with source as (
    select * from raw.indi
),

demo_keys as (
    select quarter, primaryid, caseid from staging.stg_demo
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
    select
        typed.* exclude (caseid),
        coalesce(typed.caseid, demo_keys.caseid) as caseid
    from typed
    left join demo_keys
        on typed.caseid is null and demo_keys.quarter = typed.quarter and demo_keys.primaryid = typed.primaryid
)

select * from final
