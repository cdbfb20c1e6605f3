-- marts.headline_targets: the drugs and events of the headline question, from the reviewed list
-- vocab.headline_targets (pv/data/vocab/headline_targets.csv): every ingredient of a target class and the
-- class itself (kind = 'drug'), and the event groups (kind = 'event'). Counting models keep these pairs
-- even when a = 0, and marts.headline shows them. drug_class: a drug's target class (the class itself for a
-- class), which its active comparator (marts.active_comparators) and the masking rule (marts.masked_cases) use.
create or replace view marts.headline_targets as
with listed as (
    select * from vocab.headline_targets
),

classes as (
    select name as drug_class from listed where kind = 'class'
),

drugs as (
    select 'drug' as kind, 'ingredient' as level, ingredient_classes.ingredient as name, classes.drug_class
    from vocab.ingredient_classes
    inner join classes on classes.drug_class = ingredient_classes.class
    union all
    select 'drug' as kind, 'class' as level, drug_class as name, drug_class from classes
),

events as (
    select 'event' as kind, 'group' as level, name, null::varchar as drug_class from listed where kind = 'event'
),

final as (
    select * from drugs
    union all
    select * from events
)

select * from final
