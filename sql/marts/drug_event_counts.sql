-- marts.drug_event_counts: the report-level 2x2 table of every observed (drug, event) pair, for every
-- analysis variant and level (statistics.md §1), over today's population (marts.analysis_cases rows still
-- live): a = cases with drug and event, n_drug and n_event the cases with each, n_total the cases in the
-- variant's population (cases with an exposure and an event term); b, c, d follow. Counts are of unique
-- cases, never of drug or reaction rows. The headline pairs (every target ingredient and class present in
-- the data, x the events {{headline_events}}) are there for every variant even when a = 0: a zero is a
-- finding, not a missing row.
create or replace table marts.drug_event_counts as
with cases as (
    select
        caseid,
        is_duplicate,
        has_oncology_indication as oncology,
        has_breast_cancer_indication as breast_cancer,
        has_suspect_drug as suspect
    from marts.analysis_cases
    where live_to is null
),

exposures as (
    select * from marts.case_exposures
),

outcomes as (
    select * from marts.case_outcomes
),

variants as (
    select * from marts.analysis_variants
),

targets as (
    select 'ingredient' as drug_level, ingredient as drug
    from vocab.ingredient_classes
    where list_contains({{target_classes}}, class)
    union all
    select 'class' as drug_level, unnest({{target_classes}}) as drug
),

stratum_totals as (
    select is_duplicate, oncology, breast_cancer, suspect, count(*) as cases
    from cases
    group by all
),

stratum_drugs as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect,
        exposures.drug_level, exposures.drug,
        count(*) as n_any,
        count(*) filter (where exposures.is_suspect) as n_suspect
    from cases
    inner join exposures using (caseid)
    group by all
),

stratum_events as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect,
        outcomes.event_level, outcomes.event,
        count(*) as cases
    from cases
    inner join outcomes using (caseid)
    group by all
),

stratum_pairs as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect,
        exposures.drug_level, exposures.drug, outcomes.event_level, outcomes.event,
        count(*) as a_any,
        count(*) filter (where exposures.is_suspect) as a_suspect
    from cases
    inner join exposures using (caseid)
    inner join outcomes using (caseid)
    group by all
),

totals as (
    -- every variant, also one whose population is empty
    select
        variants.role, variants.comparator, variants.duplicates,
        coalesce(sum(stratum_totals.cases), 0) as n_total
    from variants
    left join stratum_totals using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

drug_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_drugs.drug_level, stratum_drugs.drug,
        sum(case when variants.role = 'suspect' then stratum_drugs.n_suspect else stratum_drugs.n_any end)
            as n_drug
    from variants
    inner join stratum_drugs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

event_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_events.event_level,
        stratum_events.event, sum(stratum_events.cases) as n_event
    from variants
    inner join stratum_events using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

pair_counts as (
    select
        variants.role, variants.comparator, variants.duplicates,
        stratum_pairs.drug_level, stratum_pairs.drug, stratum_pairs.event_level, stratum_pairs.event,
        sum(case when variants.role = 'suspect' then stratum_pairs.a_suspect else stratum_pairs.a_any end)
            as a
    from variants
    inner join stratum_pairs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having a > 0
),

present_targets as (
    -- target drugs with an exposed case in the widest population (any role, all cases, with duplicates)
    select drug_level, drug
    from drug_margins
    semi join targets using (drug_level, drug)
    where role = 'any' and comparator = 'all' and duplicates = 'with' and n_drug > 0
),

headline_pairs as (
    select
        totals.role, totals.comparator, totals.duplicates, present_targets.drug_level, present_targets.drug,
        'group' as event_level, events.event, 0 as a
    from totals
    cross join present_targets
    cross join (select unnest({{headline_events}}) as event) as events
),

pairs as (
    select * from pair_counts
    union all by name
    select * from headline_pairs
    anti join pair_counts using (role, comparator, duplicates, drug_level, drug, event_level, event)
),

final as (
    select
        pairs.drug,
        pairs.drug_level,
        pairs.event,
        pairs.event_level,
        pairs.role,
        pairs.comparator,
        pairs.duplicates,
        pairs.a::bigint as a,
        (coalesce(drug_margins.n_drug, 0) - pairs.a)::bigint as b,
        (coalesce(event_margins.n_event, 0) - pairs.a)::bigint as c,
        (totals.n_total - coalesce(drug_margins.n_drug, 0) - coalesce(event_margins.n_event, 0) + pairs.a)::bigint
            as d
    from pairs
    inner join totals using (role, comparator, duplicates)
    left join drug_margins using (role, comparator, duplicates, drug_level, drug)
    left join event_margins using (role, comparator, duplicates, event_level, event)
)

select * from final
