-- marts.case_exposures: one row per (case, drug level, drug): exposure is per report, never per DRUG row
-- (statistics.md §1). is_suspect: the drug is a primary or secondary suspect in the case. DN ("drug not
-- administered", 2024Q4 on) is never an exposure.
create or replace table marts.case_exposures as
with drugs as (
    select * from curated.case_drugs where coalesce(role_cod, '') <> 'DN'
),

by_ingredient as (
    select caseid, 'ingredient' as drug_level, ingredient as drug, bool_or(is_suspect) as is_suspect
    from drugs
    where ingredient is not null
    group by caseid, ingredient
),

by_class as (
    select caseid, 'class' as drug_level, drug_class as drug, bool_or(is_suspect) as is_suspect
    from drugs
    where drug_class <> 'none'
    group by caseid, drug_class
),

final as (
    select * from by_ingredient
    union all
    select * from by_class
)

select * from final
