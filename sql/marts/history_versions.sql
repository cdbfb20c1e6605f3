-- marts.history_versions: the versions some past quarter analysed that are not today's retained versions
-- (followed up, deleted or set aside later). The signal history renders the case content models over them
-- (marts.history_version_drugs, _events, _indications); today's versions already have theirs in curated.
create or replace view marts.history_versions as
select distinct quarter, primaryid, caseid
from marts.version_lifetimes
where dedup_status <> 'retained'
