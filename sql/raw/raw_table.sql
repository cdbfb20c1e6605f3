-- raw.<table>: one FAERS table across every ingested quarter, exactly as FDA published it (all text),
-- read from the quarter-partitioned Parquet lake. Columns: quarter, layout, then the table's columns.
create or replace view raw.{{ ident_table }} as
with source as (
    select * from read_parquet({{ parquet_glob }}, hive_partitioning = false)
)
select * from source
