-- One line per ingested quarter: layout, rows of the main tables, lines repaired and rejected.
with ingest_log as (
    select * from raw.ingest_log
),

final as (
    select
        quarter,
        any_value(layout) filter (where layout <> '') as layout,
        sum(rows) filter (where table_name = 'demo') as demo_rows,
        sum(rows) filter (where table_name = 'drug') as drug_rows,
        sum(rows) filter (where table_name = 'reac') as reac_rows,
        sum(rows) filter (where table_name = 'deleted_cases') as deleted_caseids,
        sum(lines_repaired) as lines_repaired,
        sum(lines_rejected) as lines_rejected
    from ingest_log
    group by quarter
)

select * from final order by quarter
