-- staging.stg_reac: one row per reaction; pt with ^ read as an apostrophe. Legacy rows get caseid from DEMO.
create or replace view staging.stg_reac as
with source as (
    select * from raw.reac
),

typed as (
    select
        quarter,
        faers_int(primaryid) as primaryid,
        faers_int(caseid) as caseid,
        faers_text(pt) as pt,
        faers_text(drug_rec_act) as drug_rec_act
    from source
),

final as (
    select * from faers_with_demo_caseid(typed)
)

select * from final
