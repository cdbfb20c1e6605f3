-- marts/case_series: one row per retained case that reports the drug (in the requested roles) and the event,
-- with the drug's therapy start, the event date after the padding rule, and the time to onset with bounds.
-- Loaded by pv.cases.case_series; the filters are DuckDB named parameters bound at execution:
--   $ingredients VARCHAR[]  the drug's ingredients (ignored when $drug_class is set)
--   $drug_class VARCHAR     a class (taxane, anti_her2_adc, ...) or NULL
--   $match_all BOOLEAN      a combination name: one drug_seq must carry every ingredient
--   $role_rule VARCHAR      'suspect' (PS, SS), 'any' (every role but DN) or 'codes' ($roles)
--   $roles VARCHAR[]        with 'codes': the role codes of the drug records that count as exposure
--   $event_group VARCHAR    an event group (dm_narrow, ...) or NULL
--   $event_pt VARCHAR       a canonical PT (compared case-insensitively) or NULL
--   $include_duplicates BOOLEAN, $comparator VARCHAR ('all', 'oncology', 'breast_cancer')
--   $legacy_therapy_padding BOOLEAN  read legacy (AERS) therapy start dates on the 1st as padded
-- and the identifier ident_curated: the schema of the curated case tables, `curated` or the headline's
-- restricted copy (marts/headline_scope.sql).
--
-- Dates (faers_format.md §5-6): a partial date is stored as the first day of its period. Event dates were padded
-- to the 1st / 1 January in legacy quarters and again from 2021Q3, so there a day-precision event date on the 1st
-- is read as month precision (year precision on 1 January). FAERS therapy dates were never padded; legacy
-- extracts padded every date, so legacy start dates get the same reading unless $legacy_therapy_padding is
-- false. A period never ends after fda_dt: the event and the therapy start precede the report.
with cases as (
    select * from {{ ident_curated }}.cases
),

case_drugs as (
    select * from {{ ident_curated }}.case_drugs
),

case_events as (
    select * from {{ ident_curated }}.case_events
),

case_indications as (
    select * from {{ ident_curated }}.case_indications
),

eligible_cases as (
    select *
    from cases
    where ($include_duplicates or not is_duplicate)
        and pv_in_comparator($comparator, has_oncology_indication, has_breast_cancer_indication)
),

event_hits as (
    select caseid, list_sort(list_distinct(list(pt))) as event_pts
    from case_events
    where case
        when $event_group is not null then coalesce(list_contains(event_groups, $event_group), false)
        else lower(pt) = lower($event_pt)
    end
    group by caseid
),

drug_records as (
    select case_drugs.*
    from case_drugs
    inner join event_hits on event_hits.caseid = case_drugs.caseid
    where case_drugs.ingredient is not null
        and case $role_rule
            when 'suspect' then pv_is_suspect(case_drugs.role_cod)
            when 'any' then pv_is_exposure(case_drugs.role_cod)
            else list_contains($roles::varchar[], case_drugs.role_cod)
        end
        and case
            when $drug_class is not null then case_drugs.drug_class = $drug_class
            else list_contains($ingredients, case_drugs.ingredient)
        end
),

-- One row per matching drug (drug_seq); a combination name needs all its ingredients on the same drug_seq.
drug_seqs as (
    select
        caseid,
        drug_seq,
        list_sort(list_distinct(list(ingredient))) as ingredients,
        any_value(role_cod) as role_cod,
        any_value(drugname) as drugname,
        any_value(dechal) as dechal,
        any_value(rechal) as rechal,
        any_value(start_dt) as start_dt,
        any_value(start_dt_precision) as start_dt_precision
    from drug_records
    group by caseid, drug_seq
    having not $match_all or count(distinct ingredient) = len($ingredients)
),

-- One row per case: every matching drug_seq, the strongest role, the most informative challenge answer
-- (Y, then N, U, D), and the earliest therapy start (ties: the finer precision).
exposure as (
    select
        caseid,
        list_sort(list_distinct(flatten(list(ingredients)))) as ingredients,
        list_sort(list(drug_seq)) as drug_seqs,
        arg_min(role_cod, pv_role_rank(role_cod)) as role_cod,
        list_sort(list_distinct(list(drugname))) as drugnames,
        arg_min(dechal, list_position(['Y', 'N', 'U', 'D'], dechal)) as dechal,
        arg_min(rechal, list_position(['Y', 'N', 'U', 'D'], rechal)) as rechal,
        arg_min(start_dt, (start_dt, list_position(['day', 'month', 'year'], start_dt_precision)))
            filter (where start_dt is not null) as start_dt,
        arg_min(start_dt_precision, (start_dt, list_position(['day', 'month', 'year'], start_dt_precision)))
            filter (where start_dt is not null) as start_dt_precision
    from drug_seqs
    group by caseid
),

co_suspects as (
    select case_drugs.caseid, list_sort(list_distinct(list(case_drugs.ingredient))) as co_suspects
    from case_drugs
    inner join exposure on exposure.caseid = case_drugs.caseid
    where case_drugs.is_suspect
        and case_drugs.ingredient is not null
        and not list_contains(exposure.ingredients, case_drugs.ingredient)
    group by case_drugs.caseid
),

indications as (
    select exposure.caseid, list_sort(list_distinct(list(case_indications.pt))) as indications
    from exposure
    inner join case_indications
        on case_indications.caseid = exposure.caseid
        and list_contains(exposure.drug_seqs, case_indications.drug_seq)
    group by exposure.caseid
),

joined as (
    select
        eligible_cases.*,
        event_hits.event_pts,
        exposure.* exclude (caseid, start_dt_precision),
        exposure.start_dt_precision as start_dt_reported_precision,
        coalesce(co_suspects.co_suspects, []::varchar[]) as co_suspects,
        coalesce(indications.indications, []::varchar[]) as indications,
        eligible_cases.event_dt_precision as event_dt_reported_precision
    from eligible_cases
    inner join event_hits on event_hits.caseid = eligible_cases.caseid
    inner join exposure on exposure.caseid = eligible_cases.caseid
    left join co_suspects on co_suspects.caseid = eligible_cases.caseid
    left join indications on indications.caseid = eligible_cases.caseid
),

padding as (
    select
        *,
        event_dt_reported_precision = 'day'
            and faers_may_be_padded(event_dt)
            and faers_pads_event_dates(layout, quarter) as event_dt_padded,
        $legacy_therapy_padding
            and start_dt_reported_precision = 'day'
            and faers_may_be_padded(start_dt)
            and layout = 'laers' as start_dt_padded
    from joined
),

precisions as (
    select
        *,
        case
            when event_dt_padded then faers_padded_precision(event_dt)
            else event_dt_reported_precision
        end as event_dt_precision_used,
        case
            when start_dt_padded then faers_padded_precision(start_dt)
            else start_dt_reported_precision
        end as start_dt_precision_used
    from padding
),

-- Each date as the closed range of days it can stand for.
periods as (
    select
        *,
        case event_dt_precision_used
            when 'day' then event_dt
            when 'month' then last_day(event_dt)
            when 'year' then make_date(year(event_dt), 12, 31)
        end as event_period_end,
        case start_dt_precision_used
            when 'day' then start_dt
            when 'month' then last_day(start_dt)
            when 'year' then make_date(year(start_dt), 12, 31)
        end as start_period_end
    from precisions
),

bounded as (
    select
        *,
        case
            when fda_dt >= event_dt then least(event_period_end, fda_dt) else event_period_end
        end as event_latest,
        case
            when fda_dt >= start_dt then least(start_period_end, fda_dt) else start_period_end
        end as start_latest
    from periods
),

onset as (
    select
        *,
        case
            when event_dt is null or start_dt is null then null
            when event_dt_precision_used = 'day' and start_dt_precision_used = 'day' then 'day'
            when 'year' in (event_dt_precision_used, start_dt_precision_used) then 'year'
            else 'month'
        end as onset_precision,
        case
            when event_dt is not null and start_dt is not null
                then [(event_dt - start_latest)::bigint, (event_latest - start_dt)::bigint]
        end as onset_interval_days
    from bounded
),

final as (
    select
        caseid,
        primaryid,
        quarter,
        layout,
        age_years,
        sex,
        reporter_country,
        reporter_type,
        serious,
        outcomes,
        died,
        is_duplicate,
        ingredients,
        drugnames,
        drug_seqs,
        role_cod,
        co_suspects,
        indications,
        event_pts,
        dechal,
        rechal,
        start_dt,
        start_dt_precision_used as start_dt_precision,
        start_dt_padded,
        event_dt,
        event_dt_precision_used as event_dt_precision,
        event_dt_padded,
        (event_dt - start_dt)::bigint as time_to_onset_days,
        onset_precision,
        onset_interval_days,
        onset_interval_days[2] < 0 as negative_onset,
        onset_interval_days[1] < 0 and onset_interval_days[2] >= 0 as possibly_negative_onset
    from onset
)

select * from final
order by caseid
