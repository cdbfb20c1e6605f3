-- marts.first_flags: for every pair and variant of the quarterly history (event groups), the first quarter
-- each signal rule flagged it (NULL: never). The one definition of "first flagged"; marts.signals carries it.
create or replace view marts.first_flags as
with history as (
    select * from marts.signal_history
),

final as (
    select
        drug,
        drug_level,
        event,
        event_level,
        role,
        comparator,
        duplicates,
        min(quarter) filter (where signal_evans) as first_quarter_signal_evans,
        min(quarter) filter (where signal_ror) as first_quarter_signal_ror,
        min(quarter) filter (where signal_ic) as first_quarter_signal_ic,
        min(quarter) filter (where signal_ebgm) as first_quarter_signal_ebgm
    from history
    group by all
)

select * from final
