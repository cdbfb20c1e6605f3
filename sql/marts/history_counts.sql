-- marts.history_counts: the 2x2 table of every (drug, event group) pair, for every variant, cumulatively
-- through each quarter (cases counted from the quarter they were first published). Event groups only
-- (dm_narrow, dm_broad, …): they are the outcomes the quarterly story is about, and PT-level history for
-- every pair would multiply the table by the number of quarters.
create or replace table marts.history_counts as
with cases as (
    select
        caseid,
        first_quarter,
        is_duplicate,
        has_oncology_indication as oncology,
        has_breast_cancer_indication as breast_cancer
    from marts.analysis_cases
),

quarters as (
    select distinct first_quarter as quarter from cases
),

exposures as (
    select * from marts.case_exposures
),

group_outcomes as (
    select caseid, event from marts.case_outcomes where event_level = 'group'
),

variants as (
    select * from marts.analysis_variants
),

case_variants as (
    -- each case once per variant whose population holds it
    select variants.role, variants.comparator, variants.duplicates, cases.caseid, cases.first_quarter
    from cases
    inner join variants using (is_duplicate, oncology, breast_cancer)
),

pair_increments as (
    select
        case_variants.role, case_variants.comparator, case_variants.duplicates,
        exposures.drug_level, exposures.drug, group_outcomes.event, case_variants.first_quarter as quarter,
        count(*) as a
    from case_variants
    inner join exposures
        on exposures.caseid = case_variants.caseid
        and (case_variants.role = 'any' or exposures.is_suspect)
    inner join group_outcomes on group_outcomes.caseid = case_variants.caseid
    group by all
),

pairs as (
    select role, comparator, duplicates, drug_level, drug, event, min(quarter) as first_quarter
    from pair_increments
    group by all
),

drug_increments as (
    select
        case_variants.role, case_variants.comparator, case_variants.duplicates,
        exposures.drug_level, exposures.drug, case_variants.first_quarter as quarter, count(*) as n_drug
    from case_variants
    inner join exposures
        on exposures.caseid = case_variants.caseid
        and (case_variants.role = 'any' or exposures.is_suspect)
    where exposures.drug in (select drug from pairs)
    group by all
),

event_increments as (
    select
        case_variants.role, case_variants.comparator, case_variants.duplicates, group_outcomes.event,
        case_variants.first_quarter as quarter, count(*) as n_event
    from case_variants
    inner join group_outcomes on group_outcomes.caseid = case_variants.caseid
    group by all
),

total_increments as (
    select role, comparator, duplicates, first_quarter as quarter, count(*) as n_total
    from case_variants
    group by all
),

pair_cumulative as (
    select
        pairs.role, pairs.comparator, pairs.duplicates, pairs.drug_level, pairs.drug, pairs.event, quarters.quarter,
        sum(coalesce(pair_increments.a, 0)) over (
            partition by pairs.role, pairs.comparator, pairs.duplicates, pairs.drug_level, pairs.drug, pairs.event
            order by quarters.quarter
        ) as a
    from pairs
    inner join quarters on quarters.quarter >= pairs.first_quarter
    left join pair_increments
        on pair_increments.role = pairs.role
        and pair_increments.comparator = pairs.comparator
        and pair_increments.duplicates = pairs.duplicates
        and pair_increments.drug_level = pairs.drug_level
        and pair_increments.drug = pairs.drug
        and pair_increments.event = pairs.event
        and pair_increments.quarter = quarters.quarter
),

drug_cumulative as (
    select
        keys.role, keys.comparator, keys.duplicates, keys.drug_level, keys.drug, quarters.quarter,
        sum(coalesce(drug_increments.n_drug, 0)) over (
            partition by keys.role, keys.comparator, keys.duplicates, keys.drug_level, keys.drug
            order by quarters.quarter
        ) as n_drug
    from (select distinct role, comparator, duplicates, drug_level, drug from pairs) as keys
    cross join quarters
    left join drug_increments
        on drug_increments.role = keys.role
        and drug_increments.comparator = keys.comparator
        and drug_increments.duplicates = keys.duplicates
        and drug_increments.drug_level = keys.drug_level
        and drug_increments.drug = keys.drug
        and drug_increments.quarter = quarters.quarter
),

event_cumulative as (
    select
        keys.role, keys.comparator, keys.duplicates, keys.event, quarters.quarter,
        sum(coalesce(event_increments.n_event, 0)) over (
            partition by keys.role, keys.comparator, keys.duplicates, keys.event order by quarters.quarter
        ) as n_event
    from (select distinct role, comparator, duplicates, event from pairs) as keys
    cross join quarters
    left join event_increments
        on event_increments.role = keys.role
        and event_increments.comparator = keys.comparator
        and event_increments.duplicates = keys.duplicates
        and event_increments.event = keys.event
        and event_increments.quarter = quarters.quarter
),

total_cumulative as (
    select
        keys.role, keys.comparator, keys.duplicates, quarters.quarter,
        sum(coalesce(total_increments.n_total, 0)) over (
            partition by keys.role, keys.comparator, keys.duplicates order by quarters.quarter
        ) as n_total
    from (select distinct role, comparator, duplicates from variants) as keys
    cross join quarters
    left join total_increments
        on total_increments.role = keys.role
        and total_increments.comparator = keys.comparator
        and total_increments.duplicates = keys.duplicates
        and total_increments.quarter = quarters.quarter
),

final as (
    select
        pair_cumulative.drug,
        pair_cumulative.drug_level,
        pair_cumulative.event,
        'group' as event_level,
        pair_cumulative.role,
        pair_cumulative.comparator,
        pair_cumulative.duplicates,
        pair_cumulative.quarter,
        pair_cumulative.a::bigint as a,
        (drug_cumulative.n_drug - pair_cumulative.a)::bigint as b,
        (event_cumulative.n_event - pair_cumulative.a)::bigint as c,
        (total_cumulative.n_total - drug_cumulative.n_drug - event_cumulative.n_event + pair_cumulative.a)::bigint
            as d
    from pair_cumulative
    inner join drug_cumulative using (role, comparator, duplicates, drug_level, drug, quarter)
    inner join event_cumulative using (role, comparator, duplicates, event, quarter)
    inner join total_cumulative using (role, comparator, duplicates, quarter)
)

select * from final
