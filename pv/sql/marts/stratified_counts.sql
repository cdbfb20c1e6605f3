-- marts.stratified_counts and marts.stratum_cells: the report-level 2x2 table of every pair of
-- marts.drug_event_counts within each confounder stratum (sex x age band x report year, marts.case_strata),
-- for every analysis variant, reduced to what the stratified statistics need (statistics.md §5;
-- pv/stats/stratified.py). The target-specific variants (active, masked: marts.target_variant_counts) come
-- with their per-stratum cells (marts.target_variant_cells) and are reduced the same way.
-- A stratum matters to a pair only where both the drug and the event occur in it: elsewhere every
-- Mantel-Haenszel term and the stratum's share of E are 0. In those strata a_s is the pair's count (0 when
-- no case has both), so strata with a_s = 0 still add b_s c_s / N_s to the MH denominators, as they must.
-- marts.stratified_counts: per pair and variant, the sums over strata of the per-stratum terms of
--   E = sum n_drug,s n_event,s / N_s (openEBGM's stratified E),
--   the MH odds ratio and its Robins-Breslow-Greenland variance (pv.stats.mh_ror), over strata with all
--   four margins > 0 (R = ad/N, S = bc/N, P = (a+d)/N, Q = (b+c)/N),
--   the MH risk ratio and its Greenland-Robins variance (pv.stats.mh_prr), over strata with both exposure
--   groups (numerator a(c+d)/N, denominator c(a+b)/N, spread (a(a+b)d + c(c+d)b)/N^2),
-- written as in the library, summed in fixed point (pv_to_fixed: the same in every build); pv.signals turns
-- the sums into estimates with the library's own arithmetic.
-- marts.stratum_cells: the per-stratum cells themselves, for the Breslow-Day test, which needs every
-- stratum (not sums): for event-group pairs (the question's level: DM narrow/broad and the others) with
-- a >= {{min_reports}} in the variant, the fewest reports any ratio rule asks for. A copy for every PT-level
-- pair would be millions of pairs x hundreds of strata on the full history.
create or replace temp view stratum_cell_rows as
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

pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates, a as a_pair
    from marts.drug_event_counts
),

target_pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates, a as a_pair
    from marts.target_variant_counts
),

stratum_totals as (
    select is_duplicate, oncology, breast_cancer, suspect, stratum, count(*) as cases
    from cases
    group by all
),

stratum_drugs as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.stratum,
        exposures.drug_level, exposures.drug,
        count(*) as n_any,
        count(*) filter (where exposures.is_suspect) as n_suspect
    from cases
    inner join exposures using (caseid)
    group by all
),

stratum_events as (
    select
        cases.is_duplicate, cases.oncology, cases.breast_cancer, cases.suspect, cases.stratum,
        outcomes.event_level, outcomes.event,
        count(*) as cases
    from cases
    inner join outcomes using (caseid)
    group by all
),

stratum_pairs as (
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

totals as (
    select variants.role, variants.comparator, variants.duplicates, stratum_totals.stratum,
        sum(stratum_totals.cases) as n_total
    from variants
    inner join stratum_totals using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

drug_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_drugs.stratum,
        stratum_drugs.drug_level, stratum_drugs.drug,
        sum(pv_role_count(variants.role, stratum_drugs.n_suspect, stratum_drugs.n_any)) as n_drug
    from variants
    inner join stratum_drugs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having n_drug > 0
),

event_margins as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_events.stratum,
        stratum_events.event_level, stratum_events.event,
        sum(stratum_events.cases) as n_event
    from variants
    inner join stratum_events using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

pair_cells as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_pairs.stratum,
        stratum_pairs.drug_level, stratum_pairs.drug, stratum_pairs.event_level, stratum_pairs.event,
        sum(pv_role_count(variants.role, stratum_pairs.a_suspect, stratum_pairs.a_any)) as a
    from variants
    inner join stratum_pairs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
    having a > 0
),

variant_cells as (
    select
        pairs.drug_level, pairs.drug, pairs.event_level, pairs.event,
        pairs.role, pairs.comparator, pairs.duplicates, pairs.a_pair,
        drug_margins.stratum,
        coalesce(pair_cells.a, 0)::bigint as a,
        drug_margins.n_drug::bigint as n_drug,
        event_margins.n_event::bigint as n_event,
        totals.n_total::bigint as n_total
    from pairs
    inner join drug_margins using (role, comparator, duplicates, drug_level, drug)
    inner join event_margins using (role, comparator, duplicates, stratum, event_level, event)
    inner join totals using (role, comparator, duplicates, stratum)
    left join pair_cells using (role, comparator, duplicates, stratum, drug_level, drug, event_level, event)
),

target_cells as (
    -- the same strata: those where both the drug and the event occur
    select
        target_pairs.*, cells.stratum, cells.a, cells.n_drug, cells.n_event, cells.n_total
    from target_pairs
    inner join marts.target_variant_cells as cells
        using (drug_level, drug, event_level, event, role, comparator, duplicates)
    where cells.n_drug > 0 and cells.n_event > 0
)

select * from variant_cells
union all by name
select * from target_cells;

create or replace table marts.stratified_counts as
with pairs as (
    select drug_level, drug, event_level, event, role, comparator, duplicates from marts.drug_event_counts
    union all
    select drug_level, drug, event_level, event, role, comparator, duplicates from marts.target_variant_counts
),

cells as (
    select
        drug_level, drug, event_level, event, role, comparator, duplicates,
        a,
        a::double as a_,
        (n_drug - a)::double as b,
        (n_event - a)::double as c,
        (n_total - n_drug - n_event + a)::double as d,
        n_total::double as n,
        n_drug < n_total and n_event < n_total as odds_informative,
        n_drug < n_total as risk_informative
    from stratum_cell_rows
),

terms as (
    -- one stratum's terms, as pv/stats/stratified.py writes them; 0 where the stratum is not informative
    select
        drug_level, drug, event_level, event, role, comparator, duplicates, a, odds_informative, risk_informative,
        (a_ + b) * (a_ + c) / n as e,
        if(odds_informative, a_ * d / n, 0.0) as r,
        if(odds_informative, b * c / n, 0.0) as s,
        if(odds_informative, (a_ + d) / n, 0.0) as p,
        if(odds_informative, (b + c) / n, 0.0) as q,
        if(risk_informative, a_ * (c + d) / n, 0.0) as rr_numerator,
        if(risk_informative, c * (a_ + b) / n, 0.0) as rr_denominator,
        if(risk_informative, (a_ * (a_ + b) * d + c * (c + d) * b) / (n * n), 0.0) as rr_spread
    from cells
),

sums as (
    select
        drug_level, drug, event_level, event, role, comparator, duplicates,
        sum(a) as a_strata,
        count(*) as strata,
        pv_from_fixed(sum(pv_to_fixed(e))) as e_stratified,
        count(*) filter (where odds_informative) as ror_strata,
        pv_from_fixed(sum(pv_to_fixed(r))) as mh_r,
        pv_from_fixed(sum(pv_to_fixed(s))) as mh_s,
        pv_from_fixed(sum(pv_to_fixed(p * r))) as mh_pr,
        pv_from_fixed(sum(pv_to_fixed(p * s + q * r))) as mh_ps_qr,
        pv_from_fixed(sum(pv_to_fixed(q * s))) as mh_qs,
        count(*) filter (where risk_informative) as prr_strata,
        pv_from_fixed(sum(pv_to_fixed(rr_numerator))) as mh_prr_numerator,
        pv_from_fixed(sum(pv_to_fixed(rr_denominator))) as mh_prr_denominator,
        pv_from_fixed(sum(pv_to_fixed(rr_spread))) as mh_prr_spread
    from terms
    group by all
),

final as (
    select
        pairs.*,
        coalesce(sums.a_strata, 0)::bigint as a_strata,
        coalesce(sums.strata, 0)::bigint as strata,
        coalesce(sums.e_stratified, 0.0) as e_stratified,
        coalesce(sums.ror_strata, 0)::bigint as ror_strata,
        coalesce(sums.mh_r, 0.0) as mh_r,
        coalesce(sums.mh_s, 0.0) as mh_s,
        coalesce(sums.mh_pr, 0.0) as mh_pr,
        coalesce(sums.mh_ps_qr, 0.0) as mh_ps_qr,
        coalesce(sums.mh_qs, 0.0) as mh_qs,
        coalesce(sums.prr_strata, 0)::bigint as prr_strata,
        coalesce(sums.mh_prr_numerator, 0.0) as mh_prr_numerator,
        coalesce(sums.mh_prr_denominator, 0.0) as mh_prr_denominator,
        coalesce(sums.mh_prr_spread, 0.0) as mh_prr_spread
    from pairs
    left join sums using (drug_level, drug, event_level, event, role, comparator, duplicates)
)

select * from final;

create or replace table marts.stratum_cells as
select drug_level, drug, event_level, event, role, comparator, duplicates, stratum, a, n_drug, n_event, n_total
from stratum_cell_rows
where a_pair >= {{min_reports}} and event_level in {{cell_event_levels}};

drop view stratum_cell_rows;
