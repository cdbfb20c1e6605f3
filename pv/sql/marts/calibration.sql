-- marts.calibration: how often each signal rule flags the reviewed DM controls (vocab.dm_controls), per rule,
-- event group and analysis variant of marts.signals: the share of positive controls flagged (sensitivity) and
-- of negative controls flagged (false-positive share), each over the controls present (a > 0).
-- {{ident_rules}}: the flag columns of marts.signals, one per rule.
create or replace table marts.calibration as
with controls as (
    select * from vocab.dm_controls
),

signals as (
    select * from marts.signals
),

rules as (
    select unnest({{rules}}) as rule
),

variants as (
    select distinct role, comparator, duplicates from signals
),

listed as (
    select
        event,
        count(*) filter (where control = 'positive') as positive_controls,
        count(*) filter (where control = 'negative') as negative_controls
    from controls
    group by event
),

present as (
    select
        controls.control,
        controls.event,
        signals.role,
        signals.comparator,
        signals.duplicates,
        {{ident_rules}}
    from controls
    inner join signals
        on
            signals.drug_level = controls.drug_level
            and signals.drug = controls.drug
            and signals.event_level = 'group'
            and signals.event = controls.event
    where signals.a > 0
),

flags as (
    unpivot present on {{ident_rules}} into name rule value flagged
),

present_counts as (
    select
        event,
        role,
        comparator,
        duplicates,
        count(*) filter (where control = 'positive') as positive_present,
        count(*) filter (where control = 'negative') as negative_present
    from present
    group by event, role, comparator, duplicates
),

flagged_counts as (
    select
        rule,
        event,
        role,
        comparator,
        duplicates,
        count(*) filter (where control = 'positive' and flagged) as positive_flagged,
        count(*) filter (where control = 'negative' and flagged) as negative_flagged
    from flags
    group by rule, event, role, comparator, duplicates
),

grid as (
    select rules.rule, listed.*, variants.*
    from rules
    cross join listed
    cross join variants
),

counted as (
    select
        grid.rule,
        grid.event,
        grid.role,
        grid.comparator,
        grid.duplicates,
        grid.positive_controls,
        coalesce(present_counts.positive_present, 0) as positive_present,
        coalesce(flagged_counts.positive_flagged, 0) as positive_flagged,
        grid.negative_controls,
        coalesce(present_counts.negative_present, 0) as negative_present,
        coalesce(flagged_counts.negative_flagged, 0) as negative_flagged
    from grid
    left join present_counts using (event, role, comparator, duplicates)
    left join flagged_counts using (rule, event, role, comparator, duplicates)
),

final as (
    select
        *,
        case when positive_present > 0 then positive_flagged / positive_present end as sensitivity,
        case when negative_present > 0 then negative_flagged / negative_present end as false_positive_share,
        nullif(
            concat_ws(
                '; ',
                case when positive_present = 0 then 'sensitivity: no positive control present' end,
                case when negative_present = 0 then 'false_positive_share: no negative control present' end
            ),
            ''
        ) as reason
    from counted
)

select * from final
order by rule, event, role, comparator, duplicates
