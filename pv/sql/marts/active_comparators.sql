-- marts.active_comparators: the active comparator of every headline target drug (marts.headline_targets),
-- from the reviewed list vocab.active_comparators (pv/data/vocab/active_comparators.csv), which names for
-- each target class the comparator drugs (ingredients or classes) and the indication population (a
-- comparator of vocab.analysis_variants, read with pv_in_comparator); an ingredient inherits its class's
-- rows. The comparator = 'active' variant (marts.target_variant_counts) compares the target's cases with
-- the cases treated with these drugs instead, within that population.
create or replace table marts.active_comparators as
with listed as (
    select * from vocab.active_comparators
),

targets as (
    select level as drug_level, name as drug, drug_class from marts.headline_targets where kind = 'drug'
),

final as (
    select
        targets.drug_level,
        targets.drug,
        targets.drug_class,
        listed.comparator_level as comparator_drug_level,
        listed.comparator as comparator_drug,
        listed.population,
        listed.source
    from targets
    inner join listed on listed.target_class = targets.drug_class
)

select * from final
