-- marts.history_counts: the 2x2 table of every (drug, event group) pair, for every variant, as a quarterly
-- run at each quarter Q would have computed it: over the case versions live at Q (marts.analysis_cases:
-- the latest version published up to Q, minus the cases on deleted-case lists published up to Q, with the
-- duplicate flags of that run). Each contribution adds 1 from its live_from quarter and 1 less from its
-- live_to quarter, so every count at Q is a running sum of changes; a follow-up version published later
-- never counts before it was published. Rows: the quarters in which the pair has a >= 1, and for the
-- headline pairs (target drugs present at Q x the headline events, marts.headline_targets) every quarter, a = 0 included.
-- Event groups only: PT-level history for every pair would multiply the table by the number of quarters.
-- An incremental build rewrites only the rows that can have changed (pv.build, _history_counts): the
-- quarters from {{from_quarter}} ('' for all: a running sum from there needs only the contributions live
-- from then on, each starting no earlier), and for the drugs {{ident_drug_scope}} (a condition on
-- drug_level and drug; true for all) every quarter.
create or replace table {{ident_table}} as
with contributions as (
    select
        caseid,
        quarter,
        primaryid,
        live_from,
        live_to,
        is_duplicate,
        has_oncology_indication as oncology,
        has_breast_cancer_indication as breast_cancer,
        has_suspect_drug as suspect
    from marts.analysis_cases
    where live_to is null or live_to > {{from_quarter}}
),

quarters as (
    select distinct quarter from staging.stg_demo where quarter >= {{from_quarter}}
),

changes as (
    select * exclude (live_from, live_to), greatest(live_from, {{from_quarter}}) as changed_at, 1 as delta
    from contributions
    union all
    select * exclude (live_from, live_to), live_to as changed_at, -1 as delta
    from contributions
    where live_to is not null
),

exposures as (
    select * from marts.version_exposures where {{ident_drug_scope}}
),

group_outcomes as (
    select caseid, quarter, primaryid, event from marts.version_outcomes where event_level = 'group'
),

variants as (
    select * from marts.analysis_variants
),

variant_keys as (
    select distinct role, comparator, duplicates from variants
),

headline_events as (
    select name as event from marts.headline_targets where kind = 'event'
),

targets as (
    select drug_level, drug
    from (select level as drug_level, name as drug from marts.headline_targets where kind = 'drug')
    where {{ident_drug_scope}}
),

stratum_pairs as (
    select
        changes.is_duplicate, changes.oncology, changes.breast_cancer, changes.suspect,
        exposures.drug_level, exposures.drug, group_outcomes.event, changes.changed_at,
        sum(changes.delta) as a_any,
        coalesce(sum(changes.delta) filter (where exposures.is_suspect), 0) as a_suspect
    from changes
    inner join exposures using (caseid, quarter, primaryid)
    inner join group_outcomes using (caseid, quarter, primaryid)
    group by all
),

pair_changes as (
    select
        variants.role, variants.comparator, variants.duplicates,
        stratum_pairs.drug_level, stratum_pairs.drug, stratum_pairs.event, stratum_pairs.changed_at,
        sum(pv_role_count(variants.role, stratum_pairs.a_suspect, stratum_pairs.a_any)) as a
    from variants
    inner join stratum_pairs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

history_drugs as (
    select distinct drug_level, drug from stratum_pairs
    union
    select drug_level, drug from targets
),

stratum_drugs as (
    select
        changes.is_duplicate, changes.oncology, changes.breast_cancer, changes.suspect,
        exposures.drug_level, exposures.drug, changes.changed_at,
        sum(changes.delta) as n_any,
        coalesce(sum(changes.delta) filter (where exposures.is_suspect), 0) as n_suspect
    from changes
    inner join exposures using (caseid, quarter, primaryid)
    semi join history_drugs using (drug_level, drug)
    group by all
),

drug_changes as (
    select
        variants.role, variants.comparator, variants.duplicates,
        stratum_drugs.drug_level, stratum_drugs.drug, stratum_drugs.changed_at,
        sum(pv_role_count(variants.role, stratum_drugs.n_suspect, stratum_drugs.n_any)) as n_drug
    from variants
    inner join stratum_drugs using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

stratum_events as (
    select
        changes.is_duplicate, changes.oncology, changes.breast_cancer, changes.suspect,
        group_outcomes.event, changes.changed_at, sum(changes.delta) as cases
    from changes
    inner join group_outcomes using (caseid, quarter, primaryid)
    group by all
),

event_changes as (
    select
        variants.role, variants.comparator, variants.duplicates, stratum_events.event, stratum_events.changed_at,
        sum(stratum_events.cases) as n_event
    from variants
    inner join stratum_events using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

stratum_totals as (
    select is_duplicate, oncology, breast_cancer, suspect, changed_at, sum(delta) as cases
    from changes
    group by all
),

total_changes as (
    select variants.role, variants.comparator, variants.duplicates, stratum_totals.changed_at,
        sum(stratum_totals.cases) as n_total
    from variants
    inner join stratum_totals using (is_duplicate, oncology, breast_cancer, suspect)
    group by all
),

pair_keys as (
    -- every pair from the first quarter it changed; headline pairs from the first quarter of all
    select role, comparator, duplicates, drug_level, drug, event, min(first_quarter) as first_quarter
    from (
        select role, comparator, duplicates, drug_level, drug, event, changed_at as first_quarter
        from pair_changes
        union all
        select
            variant_keys.role, variant_keys.comparator, variant_keys.duplicates, targets.drug_level,
            targets.drug, headline_events.event, (select min(quarter) from quarters) as first_quarter
        from variant_keys
        cross join targets
        cross join headline_events
    )
    group by all
),

pair_cumulative as (
    select
        pair_keys.role, pair_keys.comparator, pair_keys.duplicates, pair_keys.drug_level, pair_keys.drug,
        pair_keys.event, quarters.quarter,
        sum(coalesce(pair_changes.a, 0)) over (
            partition by
                pair_keys.role, pair_keys.comparator, pair_keys.duplicates, pair_keys.drug_level, pair_keys.drug,
                pair_keys.event
            order by quarters.quarter
        ) as a
    from pair_keys
    inner join quarters on quarters.quarter >= pair_keys.first_quarter
    left join pair_changes
        on pair_changes.role = pair_keys.role
        and pair_changes.comparator = pair_keys.comparator
        and pair_changes.duplicates = pair_keys.duplicates
        and pair_changes.drug_level = pair_keys.drug_level
        and pair_changes.drug = pair_keys.drug
        and pair_changes.event = pair_keys.event
        and pair_changes.changed_at = quarters.quarter
),

drug_cumulative as (
    select
        variant_keys.role, variant_keys.comparator, variant_keys.duplicates, history_drugs.drug_level,
        history_drugs.drug, quarters.quarter,
        sum(coalesce(drug_changes.n_drug, 0)) over (
            partition by
                variant_keys.role, variant_keys.comparator, variant_keys.duplicates, history_drugs.drug_level,
                history_drugs.drug
            order by quarters.quarter
        ) as n_drug
    from variant_keys
    cross join history_drugs
    cross join quarters
    left join drug_changes
        on drug_changes.role = variant_keys.role
        and drug_changes.comparator = variant_keys.comparator
        and drug_changes.duplicates = variant_keys.duplicates
        and drug_changes.drug_level = history_drugs.drug_level
        and drug_changes.drug = history_drugs.drug
        and drug_changes.changed_at = quarters.quarter
),

event_cumulative as (
    select
        keys.role, keys.comparator, keys.duplicates, keys.event, quarters.quarter,
        sum(coalesce(event_changes.n_event, 0)) over (
            partition by keys.role, keys.comparator, keys.duplicates, keys.event order by quarters.quarter
        ) as n_event
    from (select distinct role, comparator, duplicates, event from pair_keys) as keys
    cross join quarters
    left join event_changes
        on event_changes.role = keys.role
        and event_changes.comparator = keys.comparator
        and event_changes.duplicates = keys.duplicates
        and event_changes.event = keys.event
        and event_changes.changed_at = quarters.quarter
),

total_cumulative as (
    select
        variant_keys.role, variant_keys.comparator, variant_keys.duplicates, quarters.quarter,
        sum(coalesce(total_changes.n_total, 0)) over (
            partition by variant_keys.role, variant_keys.comparator, variant_keys.duplicates
            order by quarters.quarter
        ) as n_total
    from variant_keys
    cross join quarters
    left join total_changes
        on total_changes.role = variant_keys.role
        and total_changes.comparator = variant_keys.comparator
        and total_changes.duplicates = variant_keys.duplicates
        and total_changes.changed_at = quarters.quarter
),

present_targets as (
    -- target drugs with an exposed case at that quarter in the widest population (any, all, with)
    select drug_level, drug, quarter, true as present
    from drug_cumulative
    semi join targets using (drug_level, drug)
    where role = 'any' and comparator = 'all' and duplicates = 'with' and n_drug > 0
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
        pv_cell_b(pair_cumulative.a, drug_cumulative.n_drug) as b,
        pv_cell_c(pair_cumulative.a, event_cumulative.n_event) as c,
        pv_cell_d(pair_cumulative.a, drug_cumulative.n_drug, event_cumulative.n_event, total_cumulative.n_total)
            as d
    from pair_cumulative
    inner join drug_cumulative using (role, comparator, duplicates, drug_level, drug, quarter)
    inner join event_cumulative using (role, comparator, duplicates, event, quarter)
    inner join total_cumulative using (role, comparator, duplicates, quarter)
    left join present_targets using (drug_level, drug, quarter)
    where pair_cumulative.a > 0
        or (present_targets.present and pair_cumulative.event in (select event from headline_events))
)

select * from final
