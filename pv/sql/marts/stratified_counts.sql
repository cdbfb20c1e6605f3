-- The per-stratum margins of every pair of marts.drug_event_counts within each confounder stratum (sex x age
-- band x report year, marts.case_strata), for every analysis variant: what the stratified statistics need
-- (statistics.md §5; pv/stats/stratified.py). Materialised once as temp tables keyed by integer ids, read by
-- pv.counts, which lays the margins out as dense rows over the strata and sums the library's per-stratum terms
-- (pv.stats.mh_ror_sums, mh_prr_sums, stratified_expected) over each pair's strata into
-- marts.stratified_counts. Integer keys, not the names, because the pair cells are tens of millions of rows.
--   stratum_ids (stratum, s), stratum_variant_ids (role, comparator, duplicates, v), stratum_drug_ids and
--   stratum_event_ids (level, name, id), stratum_pairs: every pair of marts.drug_event_counts with its ids;
--   stratum_totals (v, s): N_s; stratum_drug_margins (v, id, s): n_drug,s > 0; stratum_event_margins
--   (v, id, s): n_event,s; stratum_cell_ids (v, pair_id, s): a_s > 0 only, in pair order.
-- A stratum matters to a pair only where both the drug and the event occur in it: elsewhere every
-- Mantel-Haenszel term and the stratum's share of E are 0. In those strata a_s is the pair's count (0 when
-- no case has both), so strata with a_s = 0 still add b_s c_s / N_s to the MH denominators, as they must.
-- marts.stratum_cells: the per-stratum cells themselves, for the Breslow-Day test, which needs every
-- stratum (not sums): for event-group pairs (the question's level: DM narrow/broad and the others) with
-- a >= {{min_reports}} in the variant (stratum_pairs.keeps_cells), the fewest reports any ratio rule asks for.
-- A copy for every PT-level pair would be millions of pairs x hundreds of strata on the full history. This
-- file writes the target-specific variants' cells (active, masked: marts.target_variant_counts, whose
-- per-stratum cells are marts.target_variant_cells); pv.counts adds the analysis variants' cells from the
-- same dense rows it sums.
create or replace temp table stratum_variant_ids as
with counts as (
    select * from marts.drug_event_counts
),

variants as (
    select distinct role, comparator, duplicates from counts
)

select role, comparator, duplicates, (row_number() over (order by role, comparator, duplicates) - 1)::integer as v
from variants;

create or replace temp table stratum_ids as
with cases as (
    select * from marts.stratified_cases
),

variants as (
    select * from marts.analysis_variants
),

strata as (
    select distinct cases.stratum
    from cases
    semi join variants using (is_duplicate, oncology, breast_cancer, suspect)
)

select stratum, (row_number() over (order by stratum) - 1)::integer as s
from strata;

create or replace temp table stratum_drug_ids as
with drugs as (
    select distinct drug_level, drug from marts.drug_event_counts
)

select drug_level, drug, (row_number() over (order by drug_level, drug) - 1)::integer as id
from drugs;

create or replace temp table stratum_event_ids as
with events as (
    select distinct event_level, event from marts.drug_event_counts
)

select event_level, event, (row_number() over (order by event_level, event) - 1)::integer as id
from events;

create or replace temp table stratum_pairs as
with counts as (
    select * from marts.drug_event_counts
),

variant_ids as (
    select * from stratum_variant_ids
),

drug_ids as (
    select * from stratum_drug_ids
),

event_ids as (
    select * from stratum_event_ids
)

select
    counts.drug_level, counts.drug, counts.event_level, counts.event, counts.role, counts.comparator,
    counts.duplicates, variant_ids.v, drug_ids.id as drug_id, event_ids.id as event_id,
    counts.a >= {{min_reports}} and counts.event_level in {{cell_event_levels}} as keeps_cells,
    (row_number() over (order by variant_ids.v, drug_ids.id, event_ids.id) - 1)::bigint as pair_id
from counts
inner join variant_ids using (role, comparator, duplicates)
inner join drug_ids using (drug_level, drug)
inner join event_ids using (event_level, event);

-- The cases with their stratum id, their drugs and events with their ids, and the variants with theirs: the
-- inputs of every margin below.
create or replace temp view stratum_cases as
select cases.caseid, cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, strata.s
from marts.stratified_cases as cases
inner join stratum_ids as strata using (stratum);

create or replace temp view stratum_exposures as
select exposures.caseid, exposures.is_suspect, drug_ids.id as drug_id
from marts.case_exposures as exposures
inner join stratum_drug_ids as drug_ids using (drug_level, drug);

create or replace temp view stratum_outcomes as
select outcomes.caseid, event_ids.id as event_id
from marts.case_outcomes as outcomes
inner join stratum_event_ids as event_ids using (event_level, event);

create or replace temp view stratum_variants as
select variants.*, variant_ids.v
from marts.analysis_variants as variants
inner join stratum_variant_ids as variant_ids using (role, comparator, duplicates);

create or replace temp table stratum_totals as
with cases as (
    select * from stratum_cases
),

variants as (
    select * from stratum_variants
),

groups as (
    select is_duplicate, oncology, breast_cancer, suspect, s, count(*) as cases
    from cases
    group by all
),

final as (
    select variants.v, groups.s, sum(groups.cases) as n_total
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
)

select * from final;

create or replace temp table stratum_drug_margins as
with cases as (
    select * from stratum_cases
),

exposures as (
    select * from stratum_exposures
),

variants as (
    select * from stratum_variants
),

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.s,
        exposures.drug_id as id,
        count(*) as n_any,
        count(*) filter (where exposures.is_suspect) as n_suspect
    from cases
    inner join exposures using (caseid)
    group by all
),

final as (
    select
        variants.v, groups.id, groups.s,
        sum(pv_role_count(variants.role, groups.n_suspect, groups.n_any)) as count
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having count > 0
)

select * from final;

create or replace temp table stratum_event_margins as
with cases as (
    select * from stratum_cases
),

outcomes as (
    select * from stratum_outcomes
),

variants as (
    select * from stratum_variants
),

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.s,
        outcomes.event_id as id,
        count(*) as cases
    from cases
    inner join outcomes using (caseid)
    group by all
),

final as (
    select variants.v, groups.id, groups.s, sum(groups.cases) as count
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
)

select * from final;

create or replace temp table stratum_cell_ids as
with cases as (
    select * from stratum_cases
),

exposures as (
    select * from stratum_exposures
),

outcomes as (
    select * from stratum_outcomes
),

variants as (
    select * from stratum_variants
),

pairs as (
    select v, drug_id, event_id, pair_id from stratum_pairs
),

groups as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.s,
        exposures.drug_id, outcomes.event_id,
        count(*) as a_any,
        count(*) filter (where exposures.is_suspect) as a_suspect
    from cases
    inner join exposures using (caseid)
    inner join outcomes using (caseid)
    group by all
),

cells as (
    select
        variants.v, groups.drug_id, groups.event_id, groups.s,
        sum(pv_role_count(variants.role, groups.a_suspect, groups.a_any)) as a
    from variants
    inner join groups using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having a > 0
),

final as (
    select pairs.v, pairs.pair_id, cells.s, cells.a
    from cells
    inner join pairs using (v, drug_id, event_id)
)

select * from final
order by v, pair_id;

create or replace table marts.stratum_cells as
with target_pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates
    from marts.target_variant_counts
    where a >= {{min_reports}} and event_level in {{cell_event_levels}}
),

cells as (
    select * from marts.target_variant_cells
),

final as (
    -- the strata of the analysis variants' cells: those where both the drug and the event occur
    select
        target_pairs.drug_level, target_pairs.drug, target_pairs.event_level, target_pairs.event,
        target_pairs.role, target_pairs.comparator, target_pairs.duplicates,
        cells.stratum, cells.a::bigint as a, cells.n_drug::bigint as n_drug, cells.n_event::bigint as n_event,
        cells.n_total::bigint as n_total
    from target_pairs
    inner join cells using (drug_level, drug, event_level, event, role, comparator, duplicates)
    where cells.n_drug > 0 and cells.n_event > 0
)

select * from final
