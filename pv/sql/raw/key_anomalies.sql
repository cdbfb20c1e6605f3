-- One branch of raw.key_anomalies (pv.db.create_key_anomalies joins one per table with union all): every
-- key of raw.{{ ident_table }} that occurs on more than one row of a quarter, with how many of those rows are
-- verbatim copies and how many repeat the key with other values. Both are kept (FDA publishes some); summed
-- per quarter they equal raw.ingest_log.duplicate_rows and repeated_key_rows of the file.
select
    quarter,
    {{ table_name }} as table_name,
    {{ key_columns }} as key_columns,
    {{ ident_key_value }} as key_value,
    count(*) as rows,
    count(*) - count(distinct row({{ ident_row }})) as duplicate_rows,
    count(distinct row({{ ident_row }})) - 1 as repeated_key_rows
from raw.{{ ident_table }}
group by quarter, {{ ident_key }}
having count(*) > 1
