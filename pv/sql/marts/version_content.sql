-- marts.version_*: today's versions' content (curated.case_*, marts.case_*) and the content of the versions
-- past quarters analysed (marts.history_version_*) side by side, one relation per kind of content.
create or replace view marts.version_drugs as
select * from curated.case_drugs
union all by name
select * from marts.history_version_drugs;

create or replace view marts.version_events as
select * from curated.case_events
union all by name
select * from marts.history_version_events;

create or replace view marts.version_indications as
select * from curated.case_indications
union all by name
select * from marts.history_version_indications;

create or replace view marts.version_exposures as
select * from marts.case_exposures
union all by name
select * from marts.history_version_exposures;

create or replace view marts.version_outcomes as
select * from marts.case_outcomes
union all by name
select * from marts.history_version_outcomes;
