-- The signal tables' names before they moved into marts (pv 0.1): views kept for one release so that
-- queries written against them still run. Deprecated: read marts.signals, marts.signal_history,
-- marts.gps_priors and marts.signal_checks.
create or replace view main.signals as
select * from marts.signals;

create or replace view main.signal_history as
select * from marts.signal_history;

create or replace view main.gps_priors as
select * from marts.gps_priors;

create or replace view main.signal_checks as
select * from marts.signal_checks;
