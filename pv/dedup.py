"""De-duplication: FDA's minimum in SQL, then cross-case duplicate groups flagged (never deleted).

The same rules run on two kinds of population: today's retained cases (``curated.duplicate_flags``) and,
for the signal history, the versions a quarterly run at each past quarter analysed
(``marts.duplicate_flags_by_quarter``), so a past quarter's duplicates are the ones that run would have
flagged among its own cases. Each population is a set of snapshots; groups never cross a snapshot.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pv.sqlfiles import literal, render

# The snapshot name of today's population (the history's snapshots are quarters).
CURRENT_SNAPSHOT = "current"
_FLAG_COLUMNS = "caseid, duplicate_group, duplicate_rules, group_size, is_duplicate"


def duplicate_components(links: pa.Table) -> pa.Table:
    """Transitive closure of case-to-key links: cases reachable through shared keys form one group.

    ``links`` has columns caseid, link_key, rule and optionally snapshot (groups are formed within each
    snapshot). Returns caseid, duplicate_group (the smallest caseid of the group, so group ids are stable
    across runs) and duplicate_rules (the rules that tied the case), plus snapshot when the input has it.
    """
    with_snapshot = "snapshot" in links.column_names
    empty = {
        "caseid": pa.array([], pa.int64()),
        "duplicate_group": pa.array([], pa.int64()),
        "duplicate_rules": pa.array([], pa.list_(pa.string())),
    }
    if links.num_rows == 0:
        return pa.table(({"snapshot": pa.array([], pa.string())} if with_snapshot else {}) | empty)
    frame = links.to_pandas()
    if not with_snapshot:
        frame["snapshot"] = ""
    case_codes = frame.groupby(["snapshot", "caseid"], sort=True).ngroup().to_numpy()
    key_codes = frame.groupby(["snapshot", "link_key"], sort=False).ngroup().to_numpy()
    cases = frame[["snapshot", "caseid"]].drop_duplicates().sort_values(["snapshot", "caseid"])
    n_cases, n_keys = len(cases), int(key_codes.max()) + 1
    graph = coo_matrix(
        (np.ones(len(frame), dtype=np.int8), (case_codes, n_cases + key_codes)),
        shape=(n_cases + n_keys, n_cases + n_keys),
    )
    _, labels = connected_components(graph, directed=False)
    case_labels = labels[:n_cases]
    case_ids = cases["caseid"].to_numpy()
    # Cases are numbered in (snapshot, caseid) order and a group never leaves its snapshot: the first case
    # with a label is the group's smallest caseid.
    _, first = np.unique(case_labels, return_index=True)
    smallest = np.empty(labels.max() + 1, dtype=np.int64)
    smallest[case_labels[first]] = case_ids[first]
    # The rules that tied each case, as a bit pattern per case, then the sorted list of each pattern.
    names = sorted(frame["rule"].unique())
    bits = np.zeros(n_cases, dtype=np.int64)
    np.bitwise_or.at(bits, case_codes, 1 << frame["rule"].map(names.index).to_numpy())
    patterns = {int(p): [name for i, name in enumerate(names) if p >> i & 1] for p in np.unique(bits)}
    table = {
        "caseid": pa.array(case_ids, pa.int64()),
        "duplicate_group": pa.array(smallest[case_labels], pa.int64()),
        "duplicate_rules": pa.array([patterns[p] for p in bits.tolist()], pa.list_(pa.string())),
    }
    if with_snapshot:
        table = {"snapshot": pa.array(cases["snapshot"].to_numpy(), pa.string())} | table
    return pa.table(table)


def _build_flags(con: duckdb.DuckDBPyConnection, keys: str, target: str, columns: str) -> None:
    """``target`` from the snapshot link keys in table ``keys``: links, their closure, the flags."""
    links = con.sql(render("curated/duplicate_links", ident_keys=keys)).to_arrow_table()
    con.register("duplicate_components", duplicate_components(links))
    try:
        flags = render("curated/duplicate_flags", ident_keys=keys)
        con.execute(f"create or replace table {target} as select {columns} from ({flags})")
    finally:
        con.unregister("duplicate_components")


def flag_cross_case_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Build curated.duplicate_flags from the retained versions and their drugs and terms; flagged count."""
    keys = render(
        "curated/link_keys",
        ident_versions="curated.retained_versions",
        ident_drugs="curated.case_drugs",
        ident_events="curated.case_events",
    )
    snapshot = f"select '{CURRENT_SNAPSHOT}' as snapshot, * from ({keys})"
    con.execute(f"create or replace temp table snapshot_link_keys as {snapshot}")
    try:
        _build_flags(con, "snapshot_link_keys", "curated.duplicate_flags", _FLAG_COLUMNS)
    finally:
        con.execute("drop table if exists snapshot_link_keys")
    return con.sql("select count(*) from curated.duplicate_flags where is_duplicate").fetchall()[0][0]


def flag_duplicates_by_quarter(
    con: duckdb.DuckDBPyConnection,
    from_quarter: str = "",
    target: str = "marts.duplicate_flags_by_quarter",
) -> int:
    """marts.duplicate_flags_by_quarter: the duplicate flags a run at each past quarter would have set.

    Needs marts.version_lifetimes and the version content views (marts.version_drugs, version_events).
    Only keys ever held by two cases can tie anything, so only those are expanded to quarters. With
    ``from_quarter`` only the quarters from it on are flagged, from the versions live then (a key no two of
    them hold ties nothing then), into ``target``. Returns the number of (quarter, case) rows.
    """
    live = (
        f"(select * from marts.version_lifetimes where live_to is null or live_to > {literal(from_quarter)})"
    )
    keys = render(
        "curated/link_keys",
        ident_versions=live if from_quarter else "marts.version_lifetimes",
        ident_drugs="marts.version_drugs",
        ident_events="marts.version_events",
    )
    con.execute(f"create or replace temp table version_link_keys as {keys}")
    try:
        snapshots = render(
            "marts/duplicate_snapshots", ident_keys="version_link_keys", from_quarter=from_quarter
        )
        con.execute(f"create or replace temp table snapshot_link_keys as {snapshots}")
        _build_flags(con, "snapshot_link_keys", target, f"snapshot as as_of, {_FLAG_COLUMNS}")
    finally:
        con.execute("drop table if exists version_link_keys")
        con.execute("drop table if exists snapshot_link_keys")
    return con.sql(f"select count(*) from {target}").fetchall()[0][0]
