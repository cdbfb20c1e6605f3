-- marts.drug_event_counts: the report-level 2x2 table of every observed (drug, event) pair, for every
-- analysis variant and level (statistics.md §1), over today's population (marts.analysis_cases rows still
-- live): a = cases with drug and event, n_drug and n_event the cases with each, n_total the cases in the
-- variant's population (cases with an exposure and an event term); b, c, d follow. Counts are of unique
-- cases, never of drug or reaction rows. The headline pairs (every target ingredient and class present in
-- the data x the headline events, marts.headline_targets) are there for every variant even when a = 0: a
-- zero is a finding, not a missing row.
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
    select level as drug_level, name as drug from marts.headline_targets where kind = 'drug'
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
        sum(pv_role_count(variants.role, stratum_drugs.n_suspect, stratum_drugs.n_any)) as n_drug
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
        sum(pv_role_count(variants.role, stratum_pairs.a_suspect, stratum_pairs.a_any)) as a
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
    cross join (select name as event from marts.headline_targets where kind = 'event') as events
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
        pv_cell_b(pairs.a, coalesce(drug_margins.n_drug, 0)) as b,
        pv_cell_c(pairs.a, coalesce(event_margins.n_event, 0)) as c,
        pv_cell_d(
            pairs.a, coalesce(drug_margins.n_drug, 0), coalesce(event_margins.n_event, 0), totals.n_total
        ) as d
    from pairs
    inner join totals using (role, comparator, duplicates)
    left join drug_margins using (role, comparator, duplicates, drug_level, drug)
    left join event_margins using (role, comparator, duplicates, event_level, event)
)

select * from final
