-- staging.stg_reac: one row per reaction; pt with ^ read as an apostrophe. Legacy rows get caseid from DEMO.
create or replace view staging.stg_reac as
with source as (
    select * from raw.reac
),

demo_keys as (
    select quarter, primaryid, caseid from staging.stg_demo
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
    select
        typed.* exclude (caseid),
        coalesce(typed.caseid, demo_keys.caseid) as caseid
    from typed
    left join demo_keys
        on typed.caseid is null and demo_keys.quarter = typed.quarter and demo_keys.primaryid = typed.primaryid
)

select * from final
