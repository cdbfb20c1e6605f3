-- marts.headline_history: the headline pairs quarter by quarter, the rows of marts.signal_history for the
-- target ingredients and classes x the headline event groups x every variant (marts.headline_targets). The
-- report reads it for an earlier quarter and for the IC history figure; marts.headline is its latest state.
create or replace view marts.headline_history as
with history as (
    select * from marts.signal_history
),

target_drugs as (
    select level as drug_level, name as drug from marts.headline_targets where kind = 'drug'
),

target_events as (
    select level as event_level, name as event from marts.headline_targets where kind = 'event'
),

final as (
    select history.*
    from history
    semi join target_drugs using (drug_level, drug)
    semi join target_events using (event_level, event)
)

select * from final
