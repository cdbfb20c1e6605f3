-- {{ident_table}}: one row per (case version, drug_seq, ingredient) for the versions listed in
-- {{ident_versions}} (quarter, primaryid, caseid). curated.case_drugs is this model over the retained version
-- of every case; the signal history renders it again over the versions a past quarter analysed
-- (marts.history_version_drugs), so both share one mapping. A DRUG row maps to zero or more ingredients
-- (combination products expand); several DRUG rows of one drug_seq (one per dose regimen, from 2021Q4,
-- FAQ #53) collapse to one. Therapy dates are the earliest start and latest end over THER rows.
create or replace table {{ident_table}} as
with versions as (
    select quarter, primaryid, caseid from {{ident_versions}}
),

drug as (
    select * from staging.stg_drug
),

drug_map as (
    select * from curated.drug_name_map
),

ingredient_classes as (
    select * from vocab.ingredient_classes
),

therapy as (
    select
        quarter,
        primaryid,
        drug_seq,
        arg_min(start_dt, start_dt) as start_dt,
        arg_min(start_dt_precision, start_dt) as start_dt_precision,
        arg_max(end_dt, end_dt) as end_dt,
        arg_max(end_dt_precision, end_dt) as end_dt_precision
    from staging.stg_ther
    semi join versions using (quarter, primaryid)
    group by all
),

mapped as (
    select
        versions.caseid,
        versions.primaryid,
        versions.quarter,
        drug.drug_seq,
        drug.role_cod,
        drug.drugname,
        drug.prod_ai,
        drug.route,
        drug.dechal,
        drug.rechal,
        drug_map.method as mapping_method,
        drug_map.formulation,
        drug_map.biosimilar,
        drug_map.blinded,
        unnest(
            case when len(drug_map.ingredients) > 0 then drug_map.ingredients else [null::varchar] end
        ) as ingredient
    from versions
    inner join drug on drug.quarter = versions.quarter and drug.primaryid = versions.primaryid
    left join drug_map
        on drug_map.drugname is not distinct from drug.drugname
        and drug_map.prod_ai is not distinct from drug.prod_ai
        and drug_map.nda_num is not distinct from drug.nda_num
),

collapsed as (
    select
        caseid,
        drug_seq,
        ingredient,
        primaryid,
        quarter,
        -- The strongest role any row of this drug carries: PS, then SS, I, C, DN.
        arg_min(role_cod, pv_role_rank(role_cod)) as role_cod,
        any_value(drugname order by drugname) as drugname,
        any_value(prod_ai order by prod_ai) as prod_ai,
        any_value(route order by route) as route,
        max(dechal) as dechal,
        max(rechal) as rechal,
        any_value(mapping_method order by mapping_method) as mapping_method,
        any_value(formulation order by formulation) as formulation,
        bool_or(coalesce(biosimilar, false)) as biosimilar,
        bool_or(coalesce(blinded, false)) as blinded
    from mapped
    group by caseid, primaryid, quarter, drug_seq, ingredient
),

final as (
    select
        collapsed.caseid,
        collapsed.primaryid,
        collapsed.quarter,
        collapsed.drug_seq,
        collapsed.ingredient,
        coalesce(ingredient_classes.class, 'none') as drug_class,
        collapsed.role_cod,
        pv_is_suspect(collapsed.role_cod) as is_suspect,
        collapsed.drugname,
        collapsed.prod_ai,
        collapsed.route,
        collapsed.mapping_method,
        collapsed.formulation,
        collapsed.biosimilar,
        collapsed.blinded,
        collapsed.dechal,
        collapsed.rechal,
        therapy.start_dt,
        therapy.start_dt_precision,
        therapy.end_dt,
        therapy.end_dt_precision
    from collapsed
    left join ingredient_classes on ingredient_classes.ingredient = collapsed.ingredient
    left join therapy
        on therapy.quarter = collapsed.quarter
        and therapy.primaryid = collapsed.primaryid
        and therapy.drug_seq = collapsed.drug_seq
)

select * from final
