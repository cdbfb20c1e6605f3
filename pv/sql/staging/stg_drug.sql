-- staging.stg_drug: one row per DRUG record. Legacy AERS DRUG rows carry only ISR (= primaryid);
-- their caseid comes from the DEMO record of the same quarter.
create or replace view staging.stg_drug as
with source as (
    select * from raw.drug
),

typed as (
    select
        quarter,
        layout,
        faers_int(primaryid) as primaryid,
        faers_int(caseid) as caseid,
        faers_int(drug_seq) as drug_seq,
        upper(trim(role_cod)) as role_cod,
        faers_text(drugname) as drugname,
        faers_text(prod_ai) as prod_ai,
        faers_text(nda_num) as nda_num,
        faers_text(route) as route,
        faers_text(dose_vbm) as dose_vbm,
        upper(trim(dechal)) as dechal,
        upper(trim(rechal)) as rechal,
        faers_text(dose_amt) as dose_amt,
        faers_text(dose_unit) as dose_unit,
        faers_text(dose_form) as dose_form,
        faers_text(dose_freq) as dose_freq
    from source
),

final as (
    select * from faers_with_demo_caseid(typed)
)

select * from final
