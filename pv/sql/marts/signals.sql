-- marts.signals: every pair's statistics for every variant and level, as scored by pv.signals into
-- {{ident_scores}}, with the first quarter each rule flagged the pair in the history (marts.first_flags).
create or replace table marts.signals as
with scores as (
    select * from {{ident_scores}}
),

first_flags as (
    select * from marts.first_flags
),

final as (
    select
        scores.*,
        first_flags.first_quarter_signal_evans,
        first_flags.first_quarter_signal_ror,
        first_flags.first_quarter_signal_ic,
        first_flags.first_quarter_signal_ebgm
    from scores
    left join first_flags using (drug, drug_level, event, event_level, role, comparator, duplicates)
)

select * from final
