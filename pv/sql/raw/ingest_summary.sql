-- One line per ingested quarter: layout, rows of the main tables, lines repaired and rejected.
with ingest_log as (
    select * from raw.ingest_log
),

final as (
    select
        quarter,
        any_value(layout) filter (where layout <> '') as layout,
        sum(rows) filter (where table_name = 'demo')::bigint as demo_rows,
        sum(rows) filter (where table_name = 'drug')::bigint as drug_rows,
        sum(rows) filter (where table_name = 'reac')::bigint as reac_rows,
        coalesce(sum(rows) filter (where table_name = 'deleted_cases'), 0)::bigint as deleted_caseids,
        sum(lines_repaired)::bigint as lines_repaired,
        sum(lines_rejected)::bigint as lines_rejected
    from ingest_log
    group by quarter
)

select * from final order by quarter
