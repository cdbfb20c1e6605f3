-- headline_scope: the curated case tables restricted to the cases that report an event of the headline
-- (marts.headline_targets: event groups), written to the schema {{ ident_scope }} of a scratch database that
-- pv.cases.headline_onset attaches. Its case series (marts/case_series.sql, one per headline pair and role)
-- read these instead of the whole history: every table keeps all rows of the cases it keeps, and a series
-- only ever holds cases reporting its event, so a series read here is the series read from curated.
create table {{ ident_scope }}.case_events as
with case_events as (
    select * from curated.case_events
),

target_events as (
    select list(name) as groups from marts.headline_targets where kind = 'event' and level = 'group'
),

scope_cases as (
    select distinct case_events.caseid
    from case_events
    cross join target_events
    where list_has_any(case_events.event_groups, target_events.groups)
)

select case_events.*
from case_events
semi join scope_cases using (caseid);

create table {{ ident_scope }}.cases as
select * from curated.cases
semi join (select distinct caseid from {{ ident_scope }}.case_events) using (caseid);

create table {{ ident_scope }}.case_drugs as
select * from curated.case_drugs
semi join {{ ident_scope }}.cases using (caseid);

create table {{ ident_scope }}.case_indications as
select * from curated.case_indications
semi join {{ ident_scope }}.cases using (caseid);
