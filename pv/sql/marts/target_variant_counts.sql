-- marts.masked_cases, marts.target_variant_cells, marts.target_variant_counts: the two analysis variants
-- whose population depends on the target drug (comparator 'active' and 'masked', analysis_variants.csv),
-- for the headline pairs only (every target drug present in marts.drug_event_counts x the headline events x
-- every role and duplicates setting). marts.analysis_variants gives them no strata, so the counting models
-- of the other variants never see them; their rows join those of marts.drug_event_counts before scoring.
--
-- active (confounding by indication, statistics.md §6): the cases of the target's indication population
-- (marts.active_comparators.population, read by pv_in_comparator) with the target or one of its active
-- comparators reported in the role. a = target and event, b = target without the event, c = comparator
-- without the target and event, d = comparator without the target and without the event: a case with
-- both the target and a comparator counts as the target's.
-- masked (Maignen et al. 2014): the base population (comparator 'all') minus the cases reporting, in the
-- variant's role, a masker of the event (marts.event_maskers, chosen on the same base population) that is
-- neither the target nor an ingredient of the target's class (pv_masks): Maignen removes the masking
-- product's reports from the background. marts.masked_cases lists every case of a base population reporting
-- a masker of the event, once per masker; which of them leave a target's population is pv_masks.
--
-- marts.target_variant_cells holds each pair's 2x2 table within each confounder stratum (marts.case_strata)
-- where the population has cases; marts.target_variant_counts is their sum over the strata, with the
-- columns of marts.drug_event_counts, one row for every headline pair and variant (a = 0 and an empty
-- population included). marts.stratified_counts reads both.
create or replace temp view target_variant_targets as
-- the target drugs present: every one has its headline pairs in marts.drug_event_counts
select distinct targets.level as drug_level, targets.name as drug, targets.drug_class
from marts.headline_targets as targets
inner join marts.drug_event_counts as counts
    on counts.drug_level = targets.level and counts.drug = targets.name
where targets.kind = 'drug';

create or replace temp view target_variant_population as
-- every case of each base population (role, duplicates; comparator all)
select variants.role, variants.duplicates, cases.*
from (select distinct role, duplicates from marts.analysis_variants) as variants
inner join marts.stratified_cases as cases
    on pv_in_role(variants.role, cases.suspect)
    and pv_in_duplicates(variants.duplicates, cases.is_duplicate);

create or replace table marts.masked_cases as
with maskers as (
    select event_level, event, role, duplicates, drug as masker
    from marts.event_maskers
    where masker
),

final as (
    select
        maskers.event_level,
        maskers.event,
        maskers.role,
        maskers.duplicates,
        population.caseid,
        maskers.masker,
        classes.class as masker_class
    from maskers
    inner join marts.case_exposures as exposures
        on exposures.drug_level = 'ingredient' and exposures.drug = maskers.masker
    inner join target_variant_population as population
        on population.role = maskers.role
        and population.duplicates = maskers.duplicates
        and population.caseid = exposures.caseid
    left join vocab.ingredient_classes as classes on classes.ingredient = maskers.masker
    where pv_in_role(maskers.role, exposures.is_suspect)
)

select * from final;

create or replace table marts.target_variant_cells as
with population as (
    select * from target_variant_population
),

targets as (
    select * from target_variant_targets
),

events as (
    select level as event_level, name as event from marts.headline_targets where kind = 'event'
),

outcomes as (
    select caseid, event_level, event
    from marts.case_outcomes
    semi join events using (event_level, event)
),

target_exposed as (
    -- the cases of each base population with the target reported in the role
    select population.*, targets.drug_level, targets.drug
    from population
    inner join marts.case_exposures as exposures using (caseid)
    inner join targets using (drug_level, drug)
    where pv_in_role(population.role, exposures.is_suspect)
),

comparator_exposed as (
    select population.*, comparators.drug_level, comparators.drug
    from population
    inner join marts.case_exposures as exposures using (caseid)
    inner join marts.active_comparators as comparators
        on comparators.comparator_drug_level = exposures.drug_level
        and comparators.comparator_drug = exposures.drug
    where pv_in_role(population.role, exposures.is_suspect)
),

indication as (
    select distinct drug_level, drug, population as indication from marts.active_comparators
),

active_population as (
    -- in the indication population, with the target (exposed) or only a comparator
    select role, duplicates, caseid, stratum, drug_level, drug, bool_or(exposed) as exposed
    from (
        select *, true as exposed from target_exposed
        union all by name
        select *, false as exposed from comparator_exposed
    ) as arms
    inner join indication using (drug_level, drug)
    where pv_in_comparator(indication, oncology, breast_cancer)
    group by all
),

active_cells as (
    select
        active.drug_level, active.drug, events.event_level, events.event, active.role,
        'active' as comparator, active.duplicates, active.stratum,
        count(*) filter (where active.exposed and outcomes.caseid is not null) as a,
        count(*) filter (where active.exposed) as n_drug,
        count(outcomes.caseid) as n_event,
        count(*) as n_total
    from active_population as active
    cross join events
    left join outcomes
        on outcomes.caseid = active.caseid
        and outcomes.event_level = events.event_level
        and outcomes.event = events.event
    group by all
),

base_totals as (
    select role, duplicates, stratum, count(*) as n_total from population group by all
),

base_drugs as (
    select role, duplicates, stratum, drug_level, drug, count(*) as n_drug from target_exposed group by all
),

base_events as (
    select population.role, population.duplicates, population.stratum, outcomes.event_level, outcomes.event,
        count(*) as n_event
    from population
    inner join outcomes using (caseid)
    group by all
),

base_pairs as (
    select
        target_exposed.role, target_exposed.duplicates, target_exposed.stratum, target_exposed.drug_level,
        target_exposed.drug, outcomes.event_level, outcomes.event, count(*) as a
    from target_exposed
    inner join outcomes using (caseid)
    group by all
),

masked as (
    -- the cases that leave each target's masked population
    select distinct
        targets.drug_level, targets.drug, cases.event_level, cases.event, cases.role, cases.duplicates,
        cases.caseid
    from marts.masked_cases as cases
    inner join targets on pv_masks(cases.masker, cases.masker_class, targets.drug, targets.drug_class)
),

removed as (
    -- what they took from each stratum's 2x2 table
    select
        masked.drug_level, masked.drug, masked.event_level, masked.event, masked.role, masked.duplicates,
        cases.stratum,
        count(*) filter (where exposed.caseid is not null and outcomes.caseid is not null) as a,
        count(exposed.caseid) as n_drug,
        count(outcomes.caseid) as n_event,
        count(*) as n_total
    from masked
    inner join marts.stratified_cases as cases using (caseid)
    left join target_exposed as exposed
        on exposed.role = masked.role
        and exposed.duplicates = masked.duplicates
        and exposed.caseid = masked.caseid
        and exposed.drug_level = masked.drug_level
        and exposed.drug = masked.drug
    left join outcomes
        on outcomes.caseid = masked.caseid
        and outcomes.event_level = masked.event_level
        and outcomes.event = masked.event
    group by all
),

masked_cells as (
    select
        targets.drug_level, targets.drug, events.event_level, events.event, base_totals.role,
        'masked' as comparator, base_totals.duplicates, base_totals.stratum,
        coalesce(base_pairs.a, 0) - coalesce(removed.a, 0) as a,
        coalesce(base_drugs.n_drug, 0) - coalesce(removed.n_drug, 0) as n_drug,
        coalesce(base_events.n_event, 0) - coalesce(removed.n_event, 0) as n_event,
        base_totals.n_total - coalesce(removed.n_total, 0) as n_total
    from base_totals
    cross join targets
    cross join events
    left join base_drugs using (role, duplicates, stratum, drug_level, drug)
    left join base_events using (role, duplicates, stratum, event_level, event)
    left join base_pairs using (role, duplicates, stratum, drug_level, drug, event_level, event)
    left join removed using (drug_level, drug, event_level, event, role, duplicates, stratum)
),

final as (
    select
        drug_level, drug, event_level, event, role, comparator, duplicates, stratum,
        a::bigint as a, n_drug::bigint as n_drug, n_event::bigint as n_event, n_total::bigint as n_total
    from (select * from active_cells union all select * from masked_cells)
    where n_total > 0
)

select * from final;

create or replace table marts.target_variant_counts as
with comparators as (
    select value as comparator
    from vocab.analysis_variants
    where dimension = 'comparator' and value in ('active', 'masked')
),

keys as (
    select
        targets.drug_level, targets.drug, events.level as event_level, events.name as event,
        variants.role, comparators.comparator, variants.duplicates
    from target_variant_targets as targets
    cross join (select level, name from marts.headline_targets where kind = 'event') as events
    cross join (select distinct role, duplicates from marts.analysis_variants) as variants
    cross join comparators
),

sums as (
    select
        drug_level, drug, event_level, event, role, comparator, duplicates,
        sum(a) as a, sum(n_drug) as n_drug, sum(n_event) as n_event, sum(n_total) as n_total
    from marts.target_variant_cells
    group by all
),

final as (
    select
        keys.drug,
        keys.drug_level,
        keys.event,
        keys.event_level,
        keys.role,
        keys.comparator,
        keys.duplicates,
        coalesce(sums.a, 0)::bigint as a,
        pv_cell_b(coalesce(sums.a, 0), coalesce(sums.n_drug, 0)) as b,
        pv_cell_c(coalesce(sums.a, 0), coalesce(sums.n_event, 0)) as c,
        pv_cell_d(
            coalesce(sums.a, 0), coalesce(sums.n_drug, 0), coalesce(sums.n_event, 0), coalesce(sums.n_total, 0)
        ) as d
    from keys
    left join sums using (drug_level, drug, event_level, event, role, comparator, duplicates)
)

select * from final;

drop view target_variant_population;
drop view target_variant_targets;
