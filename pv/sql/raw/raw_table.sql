-- raw.<table>: one FAERS table across every ingested quarter, exactly as FDA published it (all text),
-- from the quarter-partitioned Parquet lake. Columns: quarter, layout, then the table's columns.
-- A view reads the live lake; a table (the analyst database's snapshot) keeps what the build saw.
-- union_by_name: a quarter ingested before a bookkeeping column existed reads it as NULL.
create or replace {{ ident_kind }} raw.{{ ident_table }} as
with source as (
    select * from read_parquet({{ parquet_glob }}, hive_partitioning = false, union_by_name = true)
)
select * from source
