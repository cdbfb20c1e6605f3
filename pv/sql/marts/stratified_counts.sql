-- The per-stratum margins of every pair of marts.drug_event_counts within each confounder stratum (sex x age
-- band x report year, marts.case_strata), for every analysis variant: what the stratified statistics need
-- (statistics.md §5; pv/stats/stratified.py). Materialised once as temp tables read by pv.counts, which sums
-- the library's per-stratum terms (pv.stats.mh_ror_sums, mh_prr_sums, stratified_expected) over each pair's
-- strata into marts.stratified_counts:
--   stratum_totals (variant, stratum): N_s; stratum_drug_margins (variant, drug, stratum): n_drug,s > 0;
--   stratum_event_margins (variant, event, stratum): n_event,s; stratum_pair_cells: a_s > 0 only.
-- A stratum matters to a pair only where both the drug and the event occur in it: elsewhere every
-- Mantel-Haenszel term and the stratum's share of E are 0. In those strata a_s is the pair's count (0 when
-- no case has both), so strata with a_s = 0 still add b_s c_s / N_s to the MH denominators, as they must.
-- marts.stratum_cells: the per-stratum cells themselves, for the Breslow-Day test, which needs every
-- stratum (not sums): for event-group pairs (the question's level: DM narrow/broad and the others) with
-- a >= {{min_reports}} in the variant, the fewest reports any ratio rule asks for. A copy for every PT-level
-- pair would be millions of pairs x hundreds of strata on the full history. The target-specific variants
-- (active, masked: marts.target_variant_counts) come with their per-stratum cells
-- (marts.target_variant_cells).
create or replace temp table stratum_totals as
with cases as (
    select * from marts.stratified_cases
),

variants as (
    select * from marts.analysis_variants
),

groups as (
    select is_duplicate, oncology, breast_cancer, suspect, stratum, count(*) as cases
    from cases
    group by all
),

final as (
    select variants.role, variants.comparator, variants.duplicates, groups.stratum, sum(groups.cases) as n_total
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
)

select * from final;

create or replace temp table stratum_drug_margins as
with cases as (
    select * from marts.stratified_cases
),

exposures as (
    select * from marts.case_exposures
),

variants as (
    select * from marts.analysis_variants
),

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.stratum,
        exposures.drug_level, exposures.drug,
        count(*) as n_any,
        count(*) filter (where exposures.is_suspect) as n_suspect
    from cases
    inner join exposures using (caseid)
    group by all
),

final as (
    select
        variants.role, variants.comparator, variants.duplicates, groups.stratum, groups.drug_level, groups.drug,
        sum(pv_role_count(variants.role, groups.n_suspect, groups.n_any)) as n_drug
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having n_drug > 0
)

select * from final;

create or replace temp table stratum_event_margins as
with cases as (
    select * from marts.stratified_cases
),

outcomes as (
    select * from marts.case_outcomes
),

variants as (
    select * from marts.analysis_variants
),

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.stratum,
        outcomes.event_level, outcomes.event,
        count(*) as cases
    from cases
    inner join outcomes using (caseid)
    group by all
),

final as (
    select
        variants.role, variants.comparator, variants.duplicates, groups.stratum, groups.event_level,
        groups.event, sum(groups.cases) as n_event
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
)

select * from final;

create or replace temp table stratum_pair_cells as
with cases as (
    select * from marts.stratified_cases
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

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.stratum,
        exposures.drug_level, exposures.drug, outcomes.event_level, outcomes.event,
        count(*) as a_any,
        count(*) filter (where exposures.is_suspect) as a_suspect
    from cases
    inner join exposures using (caseid)
    inner join outcomes using (caseid)
    group by all
),

final as (
    select
        variants.role, variants.comparator, variants.duplicates, groups.stratum,
        groups.drug_level, groups.drug, groups.event_level, groups.event,
        sum(pv_role_count(variants.role, groups.a_suspect, groups.a_any)) as a
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having a > 0
)

select * from final;

create or replace table marts.stratum_cells as
with pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates, a as a_pair
    from marts.drug_event_counts
    where a >= {{min_reports}} and event_level in {{cell_event_levels}}
),

target_pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates, a as a_pair
    from marts.target_variant_counts
    where a >= {{min_reports}} and event_level in {{cell_event_levels}}
),

variant_cells as (
    select
        pairs.drug_level, pairs.drug, pairs.event_level, pairs.event,
        pairs.role, pairs.comparator, pairs.duplicates,
        drug_margins.stratum,
        coalesce(pair_cells.a, 0)::bigint as a,
        drug_margins.n_drug::bigint as n_drug,
        event_margins.n_event::bigint as n_event,
        totals.n_total::bigint as n_total
    from pairs
    inner join stratum_drug_margins as drug_margins using (role, comparator, duplicates, drug_level, drug)
    inner join stratum_event_margins as event_margins
        using (role, comparator, duplicates, stratum, event_level, event)
    inner join stratum_totals as totals using (role, comparator, duplicates, stratum)
    left join stratum_pair_cells as pair_cells
        using (role, comparator, duplicates, stratum, drug_level, drug, event_level, event)
),

target_cells as (
    -- the same strata: those where both the drug and the event occur
    select
        target_pairs.drug_level, target_pairs.drug, target_pairs.event_level, target_pairs.event,
        target_pairs.role, target_pairs.comparator, target_pairs.duplicates,
        cells.stratum, cells.a, cells.n_drug, cells.n_event, cells.n_total
    from target_pairs
    inner join marts.target_variant_cells as cells
        using (drug_level, drug, event_level, event, role, comparator, duplicates)
    where cells.n_drug > 0 and cells.n_event > 0
)

select * from variant_cells
union all by name
select * from target_cells;
