-- marts.drug_event_counts: the report-level 2x2 table of every observed (drug, event) pair, for every
-- analysis variant and level (statistics.md §1): a = cases with drug and event, n_drug and n_event the
-- cases with each, n_total the cases in the variant's population; b, c, d follow. Counts are of unique
-- cases, never of drug or reaction rows.
create or replace table marts.drug_event_counts as
with cases as (
    select
        caseid,
        is_duplicate,
        has_oncology_indication as oncology,
        has_breast_cancer_indication as breast_cancer
    from marts.analysis_cases
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

stratum_totals as (
    select is_duplicate, oncology, breast_cancer, count(*) as cases
    from cases
    group by all
),

stratum_drugs as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, exposures.drug_level, exposures.drug,
        count(*) as n_any,
        count(*) filter (where exposures.is_suspect) as n_suspect
    from cases
    inner join exposures using (caseid)
    group by all
),

stratum_events as (
    select cases.is_duplicate, cases.oncology, cases.breast_cancer, outcomes.event_level, outcomes.event,
        count(*) as cases
    from cases
    inner join outcomes using (caseid)
    group by all
),

stratum_pairs as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer,
        exposures.drug_level, exposures.drug, outcomes.event_level, outcomes.event,
        count(*) as a_any,
        count(*) filter (where exposures.is_suspect) as a_suspect
    from cases
    inner join exposures using (caseid)
    inner join outcomes using (caseid)
    group by all
),

totals as (
    select variants.role, variants.comparator, variants.duplicates, sum(stratum_totals.cases) as n_total
    from variants
    inner join stratum_totals using (is_duplicate, oncology, breast_cancer)
    group by all
),

drug_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_drugs.drug_level, stratum_drugs.drug,
        sum(case when variants.role = 'suspect' then stratum_drugs.n_suspect else stratum_drugs.n_any end)
            as n_drug
    from variants
    inner join stratum_drugs using (is_duplicate, oncology, breast_cancer)
    group by all
),

event_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_events.event_level,
        stratum_events.event, sum(stratum_events.cases) as n_event
    from variants
    inner join stratum_events using (is_duplicate, oncology, breast_cancer)
    group by all
),

pair_counts as (
    select
        variants.role, variants.comparator, variants.duplicates,
        stratum_pairs.drug_level, stratum_pairs.drug, stratum_pairs.event_level, stratum_pairs.event,
        sum(case when variants.role = 'suspect' then stratum_pairs.a_suspect else stratum_pairs.a_any end)
            as a
    from variants
    inner join stratum_pairs using (is_duplicate, oncology, breast_cancer)
    group by all
    having a > 0
),

final as (
    select
        pair_counts.drug,
        pair_counts.drug_level,
        pair_counts.event,
        pair_counts.event_level,
        pair_counts.role,
        pair_counts.comparator,
        pair_counts.duplicates,
        pair_counts.a::bigint as a,
        (drug_margins.n_drug - pair_counts.a)::bigint as b,
        (event_margins.n_event - pair_counts.a)::bigint as c,
        (totals.n_total - drug_margins.n_drug - event_margins.n_event + pair_counts.a)::bigint as d
    from pair_counts
    inner join drug_margins using (role, comparator, duplicates, drug_level, drug)
    inner join event_margins using (role, comparator, duplicates, event_level, event)
    inner join totals using (role, comparator, duplicates)
)

select * from final
