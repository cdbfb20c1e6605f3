"""Brand-only "ingredients" among DRUG rows without prod_ai, without and with the learned dictionary.

Run: ``.venv/bin/python benchmarks/bench_brand_ingredients.py [--scale 1.0] [--keep DIR] [--db OLD.duckdb]``.

A full-size quarter is generated (unless kept from an earlier run), ingested and built to the curated layer.
DRUG rows of retained case versions without prod_ai (legacy rows, ~1.8% of recent ones) get their ingredient
from the drugname; when that name is a brand the curated dictionary does not know, the "ingredient" is the
brand itself (humira, enbrel).
An ingredient counts as known when FDA's coding uses it (a prod_ai part in the quarter, normalised the way
the pipeline normalises prod_ai) or the reviewed vocabulary lists it; a row is brand-only when one of its
ingredients is not known. The same known set is applied to every map measured: the drug map built without
the learned dictionary, the one the build publishes (with it), and optionally the ``curated.drug_name_map``
of a database built by older code (``--db``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _quarter import ingested_quarter

QUARTER = "2024Q1"

SHARE_SQL = """
with rows_without_prod_ai as (
    select drug.drugname, drug.prod_ai, drug.nda_num
    from staging.stg_drug as drug
    inner join curated.case_versions as versions
        on versions.quarter = drug.quarter and versions.primaryid = drug.primaryid
    where drug.prod_ai is null and versions.dedup_status = 'retained'
),

mapped as (
    select drug_map.ingredients
    from rows_without_prod_ai as drug
    left join {map} as drug_map
        on drug_map.drugname is not distinct from drug.drugname
        and drug_map.prod_ai is not distinct from drug.prod_ai
        and drug_map.nda_num is not distinct from drug.nda_num
)

select
    count(*) as rows,
    count(*) filter (where len(ingredients) > 0) as with_ingredient,
    count(*) filter (
        where len(list_filter(ingredients, lambda i: not list_contains($known, i))) > 0
    ) as brand_only
from mapped
"""


def known_ingredients(con) -> list[str]:
    """FDA's coded ingredients in the quarter (prod_ai parts, normalised) and the reviewed vocabulary's."""
    from pv.normalize.drugs import _prod_key, _vocab

    v = _vocab()
    prods = con.sql("select distinct prod_ai from staging.stg_drug where prod_ai is not null").fetchall()
    known = set(v.known)
    for (prod,) in prods:
        known.update(_prod_key(prod, v) or ())
    return sorted(known)


def share(con, table: str, known: list[str]) -> tuple[int, int, int]:
    return con.execute(SHARE_SQL.format(map=table), {"known": known}).fetchall()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated quarter in this folder")
    parser.add_argument("--db", type=Path, help="also measure the drug map of a database built by older code")
    args = parser.parse_args()

    import duckdb

    from pv.build import build_database
    from pv.normalize import build_drug_map

    with tempfile.TemporaryDirectory() as scratch:
        root, work = ingested_quarter(Path(scratch), QUARTER, args.scale, args.seed, args.keep)
        build_database(work / "pv.duckdb", work / "lake", signals=False, snapshot=False)
        with duckdb.connect(str(work / "pv.duckdb")) as con:
            known = known_ingredients(con)
            build_drug_map(
                con,
                "select drugname, prod_ai, nda_num from staging.stg_drug",
                "scratch.map_without_learned",
                "scratch.fuzzy_without_learned",
                sources_table="scratch.sources_without_learned",
            )
            results = {
                "without the learned dictionary": share(con, "scratch.map_without_learned", known),
                "with the learned dictionary (published map)": share(con, "curated.drug_name_map", known),
            }
            learned = con.sql(
                "select count(*) filter (where accepted), count(*) from curated.drug_learned_names"
            ).fetchall()[0]
        if args.db:
            with duckdb.connect(str(args.db), read_only=True) as con:
                results[f"database {args.db.name}"] = share(con, "curated.drug_name_map", known)

    print(f"quarter {QUARTER} at scale {args.scale} (seed {args.seed}); known ingredients: {len(known):,}")
    print(f"learned dictionary: {learned[0]:,} of {learned[1]:,} candidate names accepted")
    for label, (rows, with_ingredient, brand_only) in results.items():
        print(
            f"{label}: {brand_only:,} of {rows:,} DRUG rows without prod_ai have a brand-only ingredient "
            f"({brand_only / rows:.2%}); {with_ingredient:,} have some ingredient"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
