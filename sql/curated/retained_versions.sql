-- curated.retained_versions: the version FDA's minimum de-duplication keeps for each case (the rows of
-- curated.case_versions with dedup_status 'retained'). The case content models (case_drugs, case_events,
-- case_indications) and the duplicate link keys are built over it.
create or replace view curated.retained_versions as
select * from curated.case_versions where dedup_status = 'retained'
