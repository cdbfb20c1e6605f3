"""The analyst database: snapshot builds, example queries, schema reference."""

from __future__ import annotations

from pathlib import Path

import duckdb

SQL = Path(__file__).parent.parent / "sql"


def _statements(text: str) -> list[str]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [statement for statement in code.split(";") if statement.strip()]


def test_example_queries_run(generated):
    statements = _statements((SQL / "examples.sql").read_text())
    assert len(statements) == 8
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        for statement in statements:
            con.sql(statement).fetchall()


def test_schema_reference_covers_the_curated_tables(generated):
    reference = (SQL / "SCHEMA.md").read_text()
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        tables = [
            name
            for (name,) in con.sql(
                "select table_name from duckdb_tables() where schema_name = 'curated'"
            ).fetchall()
        ]
        for table in ("cases", "case_drugs", "case_events", "case_indications"):
            columns = [
                name
                for (name,) in con.sql(
                    "select column_name from duckdb_columns() "
                    f"where schema_name = 'curated' and table_name = '{table}'"
                ).fetchall()
            ]
            for column in columns:
                assert column in reference, (table, column)
    assert set(tables) >= {"cases", "case_drugs", "case_events", "case_indications", "dedup_summary"}
