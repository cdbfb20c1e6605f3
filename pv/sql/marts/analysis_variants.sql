-- marts.analysis_variants: every analysis variant and the case strata it counts. A stratum is one
-- combination of (is_duplicate, oncology, breast_cancer, suspect): the case's duplicate flag, whether some
-- drug was given for a cancer / breast cancer indication, whether some drug is a primary or secondary
-- suspect. A variant's population is the union of its strata, so all variants come from one aggregation.
-- The comparators active and masked have no strata (pv_in_comparator admits none): their population depends
-- on the target drug (marts.target_variant_counts).
create or replace table marts.analysis_variants as
with variant_names as (
    select * from vocab.analysis_variants
),

roles as (
    select value as role from variant_names where dimension = 'role'
),

comparators as (
    select value as comparator from variant_names where dimension = 'comparator'
),

duplicate_settings as (
    select value as duplicates from variant_names where dimension = 'duplicates'
),

strata as (
    select is_duplicate, oncology, breast_cancer, suspect
    from (values (false), (true)) as d(is_duplicate)
    cross join (values (false), (true)) as o(oncology)
    cross join (values (false), (true)) as b(breast_cancer)
    cross join (values (false), (true)) as s(suspect)
    where oncology or not breast_cancer
),

final as (
    select roles.role, comparators.comparator, duplicate_settings.duplicates, strata.*
    from roles
    cross join comparators
    cross join duplicate_settings
    cross join strata
    where pv_in_duplicates(duplicate_settings.duplicates, strata.is_duplicate)
        and pv_in_role(roles.role, strata.suspect)
        and pv_in_comparator(comparators.comparator, strata.oncology, strata.breast_cancer)
)

select * from final
