-- {{ident_table}}: one row per (case version, drug level, drug) of the drugs in {{ident_drugs}}
-- (marts.case_exposures: today's retained versions; marts.history_version_exposures: the versions past
-- quarters analysed). Exposure is per report, never per DRUG row (statistics.md §1). is_suspect: the drug
-- is a primary or secondary suspect in the case. DN ("drug not administered", 2024Q4 on) is never an
-- exposure.
create or replace table {{ident_table}} as
with drugs as (
    select * from {{ident_drugs}} where coalesce(role_cod, '') <> 'DN'
),

by_ingredient as (
    select
        caseid, quarter, primaryid, 'ingredient' as drug_level, ingredient as drug,
        bool_or(is_suspect) as is_suspect
    from drugs
    where ingredient is not null
    group by caseid, quarter, primaryid, ingredient
),

by_class as (
    select
        caseid, quarter, primaryid, 'class' as drug_level, drug_class as drug, bool_or(is_suspect) as is_suspect
    from drugs
    where drug_class <> 'none'
    group by caseid, quarter, primaryid, drug_class
),

final as (
    select * from by_ingredient
    union all
    select * from by_class
)

select * from final
