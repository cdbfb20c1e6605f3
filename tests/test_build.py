"""The build plan as data: its shape, every declared grain on a generated database, every published column
documented in sql/SCHEMA.md, re-running from a step, and the database equal to the one the code before the
plan built (apart from the documented moves)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from crafted import database_fingerprint

from pv.build import (
    LAYERS,
    PLAN,
    StagedBuild,
    build_database,
    describe_plan,
    find_step,
    steps_for_layer,
    steps_from,
)
from pv.cli import main
from pv.counts import TARGET_COMPARATORS
from pv.db import clear_dead_builds
from pv.errors import UserError
from pv.resources import sql_dir

REPOSITORY = Path(__file__).resolve().parent.parent
PUBLISHED_SCHEMAS = ("raw", "meta", "staging", "curated", "marts", "vocab")
# What the plan moved (pv/sql/SCHEMA.md, "Deprecated names") and the tables it and later work added.
MOVED = {
    f"main.{name}": f"marts.{name}" for name in ("signals", "signal_history", "gps_priors", "signal_checks")
}
ADDED = {"vocab.analysis_variants", "vocab.headline_targets", "marts.headline_onset"}
# The learned drug-name dictionary and the dictionaries a build used (issue 11 item 7).
ADDED |= {"curated.drug_learned_names", "curated.drug_map_sources"}
# The stratified statistics (issue 11): their tables, the stratified columns of marts.signals that are not
# floating point (those are never fingerprinted) and their checks, none of which the code before had.
ADDED |= {"vocab.stratum_bands", "marts.case_strata", "marts.stratified_counts", "marts.stratum_cells"}
# The controls and calibration (issue 11 item 5).
ADDED |= {"vocab.dm_controls", "marts.calibration"}
STRATIFIED_COLUMNS = {
    f"marts.signals.{name}"
    for name in ("ror_mh_strata", "prr_mh_strata", "breslow_day_df", "stratified_reason", "signal_ror_mh_fdr")
}
STRATIFIED_CHECKS = "check_name like 'signals: stratified %'"
# The target-specific variants (issue 11: active comparator, masked): their tables, their rows of the signal
# tables (comparators the code before did not have) and their checks.
ADDED |= {
    "vocab.active_comparators",
    "marts.active_comparators",
    "marts.event_maskers",
    "marts.masked_cases",
    "marts.target_variant_cells",
    "marts.target_variant_counts",
}
# What incremental builds (issue 13) keep so that a new quarter's rows add to it: the learning's support and
# the terms' occurrences.
ADDED |= {"curated.drug_learning_support", "curated.event_term_counts", "curated.indication_term_counts"}
# and the check that the flags an incremental build takes from today's equal the history's latest quarter
INCREMENT_CHECKS = "check_name = 'duplicate flags: latest quarter = today''s'"
TARGET_VARIANT_ROWS = f"comparator in {TARGET_COMPARATORS}"
TARGET_VARIANT_CHECKS = (
    "check_name like 'signals: active %' or check_name like 'signals: masked %' "
    "or check_name like 'event_maskers: %'"
)
# rows_checked of the signal checks counts every row of marts.signals, the target-specific ones included:
# compared on its own (old + those rows), not in the fingerprint.
TARGET_VARIANT_COLUMNS = {"marts.signal_checks.rows_checked"}
# Counts the code before stored as DOUBLE (whole numbers) and the plan stores as BIGINT: compared as integers.
RETYPED = {f"marts.{table}.{column}" for table in ("signals", "signal_history") for column in "abcd"}
# Builds by the code before the plan, each with what the plan's build legitimately has beyond them.
BEFORE_THE_PLAN = {
    # main when the plan was merged into it (pv.db.build_database, unqualified signal tables, with the
    # bucketed content models, provenance and the FDR columns): equal but for the moves.
    "63c343a0a1f8010248cd68b270cfa0469eec42ba": {"tables": set(), "columns": set(), "rows": {}},
    # the commit the plan was written against; main added since: the table raw.decoding (copied from the
    # lake, which e5be07b did not read); signal_ror_fdr (with ror_p, ror_q: DOUBLE, never fingerprinted) in
    # marts.signals and marts.signal_history, and their two checks in marts.signal_checks. Its other
    # additions are views (raw.key_anomalies, meta.provenance), a meta.lake_state column the fingerprint
    # does not hash (synthetic), or lake columns both builds copy (raw.ingest_log's new counts): nothing
    # else may differ.
    "e5be07b4ac2ec30aea01b01be973e5e0d1082987": {
        "tables": {"raw.decoding"},
        "columns": {"marts.signals.signal_ror_fdr", "marts.signal_history.signal_ror_fdr"},
        "rows": {"marts.signal_checks": "check_name like '%: ROR p, BH q and FDR flag per family'"},
    },
}


def test_the_plan_is_one_ordered_list_of_uniquely_named_steps():
    names = [step.name for step in PLAN]
    assert len(names) == len(set(names)) == 56
    outputs = [output for step in PLAN for output in step.outputs]
    assert len(outputs) == len(set(outputs)) == 87
    assert all(output.count(".") == 1 for output in outputs)  # schema-qualified
    assert [step.layer for step in PLAN] == sorted((step.layer for step in PLAN), key=LAYERS.index)
    assert [len(steps_for_layer(layer)) for layer in LAYERS] == [4, 10, 10, 22, 4, 6]
    # The content models, today's and past versions', run in buckets of caseids (pv.db.run_content_model).
    assert [step.name for step in PLAN if step.bucketed] == [
        "curated.case_drugs",
        "curated.case_events",
        "curated.case_indications",
        "marts.history_version_drugs",
        "marts.history_version_events",
        "marts.history_version_indications",
    ]
    assert names.index("meta.provenance") == names.index("raw.row_reconciliation") + 1
    for step in PLAN:
        if step.model:
            assert (sql_dir() / f"{step.model}.sql").is_file()
    # the macro steps come first: a database built by an earlier version has that version's macros
    assert [step.name for step in steps_from("marts.signals")][:3] == [
        "macros.faers_values",
        "macros.analysis_rules",
        "marts.signals",
    ]
    assert len(steps_from("marts.signals")) == 2 + len(PLAN) - names.index("marts.signals")
    with pytest.raises(UserError, match="no such build step"):
        find_step("signals")


def test_build_list_prints_every_step_with_outputs_and_grain(capsys):
    assert main(["build", "--list"]) == 0
    printed = capsys.readouterr().out
    assert printed == describe_plan() + "\n"
    lines = printed.splitlines()
    assert len(lines) == 2 + len(PLAN) + sum(max(1, len(step.outputs)) for step in PLAN)
    assert max(map(len, lines)) <= 120
    assert "marts.headline    " in printed
    assert "    marts.signals (drug_level, drug, event_level, event, role, comparator, duplicates)" in lines
    assert main(["build", "--from", "signals", "--db", "none.duckdb", "--lake", "none"]) == 2
    assert capsys.readouterr().err.startswith("pv: error: signals: no such build step; `pv build --list`")


def test_every_declared_grain_holds_on_a_generated_database(generated):
    checked = []
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        for step in PLAN:
            for output, grain in step.outputs.items():
                rows = con.sql(f"select count(*) from {output}").fetchall()[0][0]
                if grain is None:
                    continue
                keys = ", ".join(grain)
                distinct, nulls = con.sql(
                    f"select count(distinct ({keys})), count(*) filter (where "
                    + " or ".join(f"{column} is null" for column in grain)
                    + f") from {output}"
                ).fetchall()[0]
                assert (distinct, nulls) == (rows, 0), f"{output}: grain ({keys})"
                checked.append((output, rows))
    assert len(checked) == 70
    counted = dict(checked)["marts.drug_event_counts"] + dict(checked)["marts.target_variant_counts"]
    assert dict(checked)["marts.signals"] == counted > 100_000
    # 15 target drugs present x 2 events x (12 variants + 8 target-specific: active, masked x role x dups)
    assert dict(checked)["marts.target_variant_counts"] == 240
    assert dict(checked)["marts.headline"] == 600
    assert dict(checked)["marts.headline_onset"] == 600  # one row per headline row


def documented_columns(text: str) -> dict[str, list[str]]:
    """Relation -> documented columns, from sql/SCHEMA.md: a ``### `schema.name`, …`` heading opens a
    section for the relations it names; rows of its ``| column | type | meaning |`` table name columns
    (comma-separated); "Columns of `x`" takes x's columns first."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    inherits: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            names = re.findall(r"`(\w+\.\w+)`", line.split(" — ")[0]) if line.startswith("### ") else []
            current = names
            for name in names:
                sections.setdefault(name, [])
            continue
        if not current:
            continue
        inherited = re.match(r"Columns of `(\w+\.\w+)`", line)
        if inherited:
            for name in current:
                inherits[name] = inherited.group(1)
        elif line.startswith("| ") and not line.startswith(("| column ", "|---")):
            cell = line.split("|")[1]
            for name in current:
                sections[name] += [column.strip(" `") for column in cell.split(",") if column.strip()]

    def resolve(name: str) -> list[str]:
        base = resolve(inherits[name]) if name in inherits else []
        return base + sections[name]

    return {name: resolve(name) for name in sections}


def test_every_published_column_is_documented_and_every_documented_one_exists(generated):
    documented = documented_columns((sql_dir() / "SCHEMA.md").read_text())
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        published: dict[str, list[str]] = {}
        for schema, relation, column in con.sql(
            "select schema_name, table_name, column_name from duckdb_columns() "
            f"where schema_name in {PUBLISHED_SCHEMAS} order by schema_name, table_name, column_index"
        ).fetchall():
            published.setdefault(f"{schema}.{relation}", []).append(column)
    undocumented = {
        relation: sorted(set(columns) - set(documented.get(relation, [])))
        for relation, columns in published.items()
        if set(columns) - set(documented.get(relation, []))
    }
    assert undocumented == {}
    missing = {
        relation: sorted(set(columns) - set(published.get(relation, [])))
        for relation, columns in documented.items()
        if relation.split(".")[0] in PUBLISHED_SCHEMAS and set(columns) - set(published.get(relation, []))
    }
    assert missing == {}
    assert not [
        relation
        for relation in documented
        if relation.split(".")[0] in PUBLISHED_SCHEMAS and relation not in published
    ]
    assert len(published) == 87  # 86 + meta.build_inputs


def test_build_from_a_step_reruns_the_rest_on_a_copy_and_swaps_it_in(generated, tmp_path):
    db = tmp_path / "pv.duckdb"
    shutil.copyfile(generated / "data/pv.duckdb", db)
    with duckdb.connect(str(db)) as con:
        con.execute("delete from marts.gps_priors")  # what the re-run must restore
    build_database(db, generated / "data/lake", from_step="marts.gps_priors")
    assert database_fingerprint(db) == database_fingerprint(generated / "data/pv.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pv.duckdb.lock", "pv.duckdb"]  # no temporary
    with pytest.raises(UserError, match="no database to re-run steps on"):
        build_database(tmp_path / "none.duckdb", generated / "data/lake", from_step="marts.signals")


@pytest.mark.parametrize("commit", list(BEFORE_THE_PLAN), ids=lambda commit: commit[:7])
def test_the_database_is_the_one_the_code_before_the_plan_built(generated, tmp_path, commit):
    """The same lake built by the code of a commit before the plan (its own pv package, in a subprocess):
    every table equal, apart from the signal tables now in marts, the two new vocabularies and what that
    commit lacked of main's later additions (BEFORE_THE_PLAN)."""
    known = subprocess.run(
        ["git", "-C", str(REPOSITORY), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
    )
    if known.returncode:
        pytest.skip(f"commit {commit} is not in this clone's history")
    before = tmp_path / "before"
    before.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", commit, "pv", "sql", "data"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
    script = (
        "import sys; from pathlib import Path; import pv; from pv.db import build_database; "
        "assert Path(pv.__file__).parent == Path.cwd() / 'pv', pv.__file__; "
        "build_database(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    old_db = tmp_path / "before.duckdb"
    subprocess.run(
        [sys.executable, "-c", script, str(old_db), str(generated / "data/lake")], cwd=before, check=True
    )
    # Issue 11 item 7 changed the drug map on purpose (brand names learned from prod_ai, multi-word
    # ingredients kept whole; tests/test_normalize_drugs.py): the plan is compared with the old code given
    # the old code's drug map, re-running every step after it, so any other difference still fails.
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copyfile(generated / "data/pv.duckdb", rebuilt)
    with duckdb.connect(str(rebuilt)) as con:
        con.execute(f"attach '{old_db}' as old (read_only)")
        for table in ("curated.drug_name_map", "curated.drug_fuzzy_audit"):
            con.execute(f"create or replace table {table} as select * from old.{table}")
    build_database(rebuilt, generated / "data/lake", from_step="curated.term_maps")
    later = BEFORE_THE_PLAN[commit]
    old = {
        MOVED.get(name, name): value
        for name, value in database_fingerprint(
            old_db, ignore_columns={"main.signal_checks.rows_checked"}
        ).items()
    }
    with duckdb.connect(str(old_db), read_only=True) as con:
        old_checked = dict(con.sql("select check_name, rows_checked from main.signal_checks").fetchall())
    with duckdb.connect(str(rebuilt), read_only=True) as con:
        new_checked = dict(con.sql("select check_name, rows_checked from marts.signal_checks").fetchall())
        added = con.sql(f"select count(*) from marts.signals where {TARGET_VARIANT_ROWS}").fetchall()[0][0]
    assert added == 240
    assert all(new_checked[name] in (rows, rows + added) for name, rows in old_checked.items())
    checks = " or ".join(
        filter(
            None,
            (
                later["rows"].get("marts.signal_checks"),
                STRATIFIED_CHECKS,
                TARGET_VARIANT_CHECKS,
                INCREMENT_CHECKS,
            ),
        )
    )
    new = database_fingerprint(
        rebuilt,
        ignore_columns=later["columns"] | STRATIFIED_COLUMNS | RETYPED | TARGET_VARIANT_COLUMNS,
        ignore_rows=later["rows"]
        | {"marts.signal_checks": checks}
        | {f"marts.{table}": TARGET_VARIANT_ROWS for table in ("signals", "headline_onset")},
    )

    def counts_of(db: Path, table: str) -> tuple:
        where = f" where not ({TARGET_VARIANT_ROWS})" if table == "marts.signals" else ""
        with duckdb.connect(str(db), read_only=True) as con:
            return con.sql(
                f"select sum(hash(a::bigint, b::bigint, c::bigint, d::bigint)) from {table}{where}"
            ).fetchall()[0]

    for table in ("signals", "signal_history"):
        assert counts_of(old_db, f"main.{table}") == counts_of(rebuilt, f"marts.{table}")
    with duckdb.connect(str(rebuilt), read_only=True) as con:
        present = {
            f"{schema}.{table}.{column}"
            for schema, table, column in con.sql(
                "select schema_name, table_name, column_name from duckdb_columns()"
            ).fetchall()
        }
        left_out = {
            table: con.sql(f"select count(*) from {table} where {rows}").fetchall()[0][0]
            for table, rows in later["rows"].items()
        }
    assert later["columns"] <= present  # what is not compared exists
    assert left_out == {table: 2 for table in later["rows"]}  # signals' and signal_history's FDR checks
    assert set(new) - set(old) == ADDED | later["tables"]
    assert {name: new[name] for name in old} == old
    # every table (views are over them), meta.lake_state included
    assert len(old) + len(later["tables"]) == 42


def test_a_half_built_copy_resumes_only_for_the_lake_state_it_was_started_from(generated, tmp_path, capsys):
    """``pv build`` after a failed build resumes it and says so; a copy started from another lake state is
    discarded (saying so) and the build starts afresh; dead builds' clean-up keeps the copy."""
    lake = tmp_path / "lake"
    shutil.copytree(generated / "data/lake", lake)
    db = tmp_path / "pv.duckdb"
    pending = tmp_path / ".pv.duckdb.pending"
    build = StagedBuild.open(db, lake)
    assert build.note is None  # no copy there: a new one, nothing to say
    raw = build.run_layer("raw")
    assert [record.step for record in raw] == [step.name for step in steps_for_layer("raw")]
    demo = raw[0].rows["raw.demo"]
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        assert demo == con.sql("select count(*) from raw.demo").fetchall()[0][0]
    assert raw[1].rows == {"raw.key_anomalies": None}  # a view: not counted
    with pytest.raises(UserError, match="the curated layer needs vocab.tables"):
        build.run_layer("curated")
    left = len(PLAN) - 4
    with pytest.raises(
        UserError, match=rf"the build is not complete \({left} steps left, from vocab.tables\)"
    ):
        build.finish()
    assert build.layers_done() == ["raw"]
    clear_dead_builds(db)
    assert pending.exists()

    again = StagedBuild.open(db, lake)  # same lake: resumed, the raw layer not run again
    assert again.note == (
        f"resuming the half-built .pv.duckdb.pending: 4 of {len(PLAN)} steps done, "
        "going on after meta.provenance"
    )
    assert all(record.resumed for record in again.run_layer("raw"))

    shutil.rmtree(next(lake.glob("quarter=2023Q3")))  # the lake moves on
    assert main(["build", "--db", str(db), "--lake", str(lake)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "discarded the half-built .pv.duckdb.pending (built from another lake state, plan or database); "
        "building afresh"
    ]
    assert not pending.exists()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select max(quarter) from raw.demo").fetchall() == [("2021Q4",)]
        assert con.sql("select count(*), count(finished_at) from meta.build_progress").fetchall() == [
            (len(PLAN), len(PLAN))
        ]


def test_build_from_a_step_recreates_the_macros_an_older_database_lacks(generated, tmp_path):
    """A database built before a macro existed (here: pv_role_count dropped) re-runs from a later step."""
    from pv.build import build_database

    db = tmp_path / "pv.duckdb"
    shutil.copyfile(generated / "data/pv.duckdb", db)
    with duckdb.connect(str(db)) as con:
        con.execute("drop macro pv_role_count")
        before = con.sql("select count(*) from marts.stratified_counts").fetchall()[0][0]
    build_database(db, generated / "data/lake", from_step="marts.stratified_counts")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from marts.stratified_counts").fetchall()[0][0] == before > 0
        assert con.sql("select pv_role_count('suspect', 1, 2)").fetchall()[0][0] == 1
