"""De-duplication: FDA's minimum in SQL, then cross-case duplicate groups flagged (never deleted)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pv.sqlfiles import render


def duplicate_components(links: pa.Table) -> pa.Table:
    """Transitive closure of case-to-key links: cases reachable through shared keys form one group.

    ``links`` has columns caseid, link_key, rule. Returns caseid, duplicate_group (the smallest caseid of
    the group, so group ids are stable across runs) and duplicate_rules (the rules that tied the case).
    """
    if links.num_rows == 0:
        return pa.table(
            {
                "caseid": pa.array([], pa.int64()),
                "duplicate_group": pa.array([], pa.int64()),
                "duplicate_rules": pa.array([], pa.list_(pa.string())),
            }
        )
    frame = links.to_pandas()
    case_codes, case_ids = frame["caseid"].factorize(sort=True)
    key_codes, _ = frame["link_key"].factorize()
    n_cases, n_keys = len(case_ids), int(key_codes.max()) + 1
    graph = coo_matrix(
        (np.ones(len(frame), dtype=np.int8), (case_codes, n_cases + key_codes)),
        shape=(n_cases + n_keys, n_cases + n_keys),
    )
    _, labels = connected_components(graph, directed=False)
    case_labels = labels[:n_cases]
    smallest = {}
    for case_id, label in zip(np.asarray(case_ids), case_labels, strict=True):
        smallest.setdefault(label, case_id)  # case_ids are sorted, so the first seen is the smallest
    rules = frame.groupby("caseid")["rule"].agg(lambda values: sorted(set(values)))
    return pa.table(
        {
            "caseid": pa.array(np.asarray(case_ids), pa.int64()),
            "duplicate_group": pa.array([smallest[label] for label in case_labels], pa.int64()),
            "duplicate_rules": pa.array(
                [rules[case_id] for case_id in np.asarray(case_ids)], pa.list_(pa.string())
            ),
        }
    )


def flag_cross_case_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Build curated.duplicate_flags from curated.case_versions/case_drugs/case_events; flagged count."""
    links = con.sql(render("curated/duplicate_links")).to_arrow_table()
    components = duplicate_components(links)
    con.register("duplicate_components", components)
    try:
        con.execute(render("curated/duplicate_flags"))
    finally:
        con.unregister("duplicate_components")
    return con.sql("select count(*) from curated.duplicate_flags where is_duplicate").fetchall()[0][0]
