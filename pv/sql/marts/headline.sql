-- marts.headline: the headline table, the rows of marts.signals that answer the question the project
-- asks: every target ingredient and class present in the data x the headline event groups x every analysis
-- variant, a = 0 included (marts.headline_targets lists them). Read by `pv signals` and the notebook.
create or replace view marts.headline as
with signals as (
    select * from marts.signals
),

target_drugs as (
    select level as drug_level, name as drug from marts.headline_targets where kind = 'drug'
),

target_events as (
    select level as event_level, name as event from marts.headline_targets where kind = 'event'
),

final as (
    select signals.*
    from signals
    semi join target_drugs using (drug_level, drug)
    semi join target_events using (event_level, event)
)

select * from final
