-- Example queries for analysts. Open the database read-only, e.g. in Python:
--   con = duckdb.connect("data/pv.duckdb", read_only=True), then con.sql(<one statement>).show()
-- or paste one statement at a time.

-- 1. The headline: dermatomyositis (narrow) x taxanes and anti-HER2 agents, default variant.
select drug, drug_level, a, prr, prr_lower, ror, ror_lower, ic, ic025, ebgm, eb05,
       signal_evans, signal_ror, signal_ic, signal_ebgm
from marts.headline
where event = 'dm_narrow' and role = 'suspect' and comparator = 'all' and duplicates = 'without'
order by ic025 desc;

-- 2. Does the signal hold among cancer patients? The same pair across comparators.
select comparator, duplicates, a, prr, prr_lower, ic, ic025
from marts.signals
where drug = 'docetaxel' and event = 'dm_broad' and role = 'suspect'
order by comparator, duplicates;

-- 3. How the evidence built up, quarter by quarter.
select quarter, a, ic, ic025, ic975, signal_ic
from marts.signal_history
where drug = 'taxane' and event = 'dm_narrow' and role = 'suspect' and comparator = 'all' and duplicates = 'without'
order by quarter;

-- 4. The strongest dermatomyositis signals of any drug (positive controls such as checkpoint inhibitors).
select drug, a, ic, ic025, eb05
from marts.signals
where event = 'dm_broad' and drug_level = 'ingredient' and role = 'suspect' and comparator = 'all'
    and duplicates = 'without' and a >= 3
order by ic025 desc
limit 20;

-- 5. The cases behind a signal (use `pv cases` for time to onset and dechallenge).
select cases.caseid, cases.age_years, cases.sex, cases.reporter_country, cases.serious, drugs.role_cod, events.pt
from curated.cases as cases
inner join curated.case_drugs as drugs using (caseid)
inner join curated.case_events as events using (caseid)
where drugs.ingredient = 'docetaxel' and list_contains(events.event_groups, 'dm_broad') and not cases.is_duplicate;

-- 6. What the last run loaded, repaired and rejected, and how de-duplication changed each quarter.
select * from raw.ingest_log order by quarter, table_name;
select * from raw.rejects order by quarter, table_name, line_no;
select * from curated.dedup_summary order by quarter;
