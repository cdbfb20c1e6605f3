-- Loaded rows per quarter and table against FDA's published totals, where FDA's statistics are at hand
-- (pv/data/fda_official_row_totals.csv: 2025Q2, 2025Q4). FDA allows totals to differ from the files by <0.05%
-- for 2012Q4-2017Q3 (FAQ #42-43); a partial extract shows as its share of the quarter.
create or replace view raw.row_reconciliation as
with official as (
    select quarter, lower("table") as table_name, rows as fda_rows, basis
    from read_csv({{ totals_csv }}, header = true, auto_detect = true)
),

loaded as (
    select quarter, table_name, sum(rows) as loaded_rows, sum(lines_rejected) as rejected_lines
    from raw.ingest_log
    group by quarter, table_name
),

final as (
    select
        official.quarter,
        official.table_name,
        official.fda_rows,
        loaded.loaded_rows,
        loaded.rejected_lines,
        loaded.loaded_rows - official.fda_rows as difference,
        round(loaded.loaded_rows / official.fda_rows, 6) as loaded_share,
        official.basis
    from official
    inner join loaded using (quarter, table_name)
)

select * from final
