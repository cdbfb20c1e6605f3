-- marts.analysis_variants: every analysis variant and the case strata it counts. A stratum is one
-- combination of (is_duplicate, oncology, breast_cancer, suspect): the case's duplicate flag, whether some
-- drug was given for a cancer / breast cancer indication, whether some drug is a primary or secondary
-- suspect. A variant's population is the union of its strata, so all variants come from one aggregation.
create or replace table marts.analysis_variants as
with roles as (
    select * from (values ('suspect'), ('any')) as t(role)
),

comparators as (
    select * from (values ('all'), ('oncology'), ('breast_cancer')) as t(comparator)
),

duplicate_settings as (
    select * from (values ('without'), ('with')) as t(duplicates)
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
    where (duplicate_settings.duplicates = 'with' or not strata.is_duplicate)
        and (roles.role = 'any' or strata.suspect)
        and (
            comparators.comparator = 'all'
            or (comparators.comparator = 'oncology' and strata.oncology)
            or (comparators.comparator = 'breast_cancer' and strata.breast_cancer)
        )
)

select * from final
