"""pv and Open Altio side by side: the same generated full-size quarters, in one run, with the same caps.

Not a test. Run from the repository root with the project venv:

    .venv/bin/python benchmarks/bench_open_altio.py --keep /tmp/oa-bench/synth [--json figures.json]

Defaults: ``--quarters 2024Q1,2024Q2 --scale 1.0 --seed 0``, memory cap ``$PV_MEMORY_LIMIT`` (else 4GB) for
both tools, ``--threads 2`` for Open Altio. ``--keep DIR`` keeps (and reuses) the generated zips and their
ground truth; ``--work DIR`` keeps both tools' outputs (default: a temporary folder, removed at the end).

Open Altio (PyPI ``open-altio``, Python >= 3.12) is never installed into the project venv. It gets its own,
created on first use with a pyenv Python >= 3.12 (``--altio-venv``, default /tmp/open-altio-venv):

    ~/.pyenv/versions/3.12.1/bin/python -m venv /tmp/open-altio-venv
    /tmp/open-altio-venv/bin/pip install open-altio 'duckdb<2'

``duckdb<2`` is needed: open-altio 1.0.0 declares ``duckdb>=1.2`` without an upper bound, and under DuckDB
2.x its build fails (deprecated lambda arrow in ``faers/route/clean.py``).

What is compared, phase by phase (each command in its own process, wall time and peak RSS from
``/usr/bin/time -v``, or from ``getrusage(RUSAGE_CHILDREN)`` in a wrapper process where that is missing):

* "first quarter": ``pv ingest <first zip>`` into a fresh ``PV_DATA_DIR`` (lake + database build, curated
  layer included) vs ``python -m open_altio.faers build --input <folder with the first zip> --diana DICT
  --overwrite --threads 2 --memory-limit CAP`` (raw load, derived tables, drug names, ATC classes, Parquet,
  statistics, explorer database).
* "add <quarter>" for each further quarter: ``pv ingest <that zip>`` into the same data folder (whatever
  ``pv ingest`` does to bring its database up to date) vs an Open Altio build over every zip so far (it has
  no incremental path: every build starts from scratch).

Sanity figures: pv's case count is read from ``curated.cases`` (read-only, the project's DuckDB); Open
Altio's files are written by DuckDB 1.5, so its figures come from its ``manifest.json`` (deduplicated cases,
cases and ingredient x reaction pairs counted by its statistics, its own build_seconds/peak RSS).

Caveats:

* The DiAna dictionary is written from the generator's ground truth (``write_diana``): 1,248 keys for the
  default two full-size quarters (~1,243 for one), where the real DiAna file is far larger, which may
  change Open Altio's time on real data. Its sha256 is pinned in a copy of Open Altio's rules folder
  (``OPEN_ALTIO_RULES_DIR``), the only rule changed. pv is run without a dictionary (its default: names
  through prod_ai and its own data).
* Open Altio renames some ingredients through its ``names.csv`` (``cyclosporine`` -> ``ciclosporin``), and
  its reviewed corrections only fire on DiAna's own answers, so its ingredient counts need not match pv's.
* Threads: Open Altio gets ``--threads 2``; pv has no thread switch and uses DuckDB's default, the number of
  cores (2 on the machine this was written on). Compare like with like on a machine with more cores.
* The two tools do different amounts of work (see above); the ratio is "time to an up-to-date,
  queryable release", not a like-for-like engine comparison. On a shared machine figures are noisy; the
  ratios within one run are the meaningful part.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALTIO_REQUIREMENTS = ("open-altio", "duckdb<2")
TIME = Path("/usr/bin/time")

# Fallback when /usr/bin/time is missing: the command is this wrapper's only child, so RUSAGE_CHILDREN's
# ru_maxrss (KiB on Linux) is the command's peak RSS.
RSS_WRAPPER = (
    "import json, resource, subprocess, sys;"
    "code = subprocess.call(sys.argv[2:]);"
    "open(sys.argv[1], 'w').write(json.dumps({'rc': code,"
    " 'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}));"
    "sys.exit(code)"
)


# --------------------------------------------------------------------------------------------------------
# The DiAna dictionary


_PUNCT = r"""!"#$%&'*+,\-./:;<=>?@\[\\\]^_`{|}~"""


def diana_key(name: str) -> str:
    """DiAna's key for a raw FAERS drug name, the form its dictionary's ``drugname`` column holds: lower
    case, trimmed, one trailing ``.`` removed, whitespace runs collapsed to one space, leading and trailing
    punctuation stripped (twice; an opening bracket at the end and a closing one at the start go too, outer
    brackets that enclose something stay), no space just inside brackets."""
    x = name.lower().strip(" \t\r\n")
    x = re.sub(r"\.$", "", x).strip(" \t\r\n")
    x = re.sub(r"\s+", " ", x)
    for _ in range(2):
        x = re.sub(f"[{_PUNCT}(]+$", "", x).strip(" \t\r\n")
        x = re.sub(f"^[{_PUNCT})]+", "", x).strip(" \t\r\n")
    return x.replace("( ", "(").replace(" )", ")")


def write_diana(drug_names_csv: Path, out: Path) -> int:
    """Write a DiAna-format dictionary from ``pv synth``'s ``ground_truth/drug_names.csv``; its key count.

    Format, as DiAna publishes it and Open Altio reads it (``open_altio.testing.fakediana``): UTF-8 with a
    BOM, header ``drugname;Substance``, ``;`` between the columns, CRLF line ends. ``drugname`` is
    ``diana_key`` of FDA's raw name; ``Substance`` is the true ingredients, lower case, sorted and
    ``;``-joined (quoted then), ``NA`` for a name with no substance. When two raw names share a key, the one
    written on more rows gives the answer."""
    best: dict[str, tuple[int, str]] = {}
    with drug_names_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = diana_key(row["drugname"])
            if not key:
                continue
            ingredients = sorted(set(filter(None, row["ingredients"].split(";"))))
            substance = ";".join(ingredients) if ingredients else "NA"
            rows = int(row["rows"])
            if key not in best or rows > best[key][0]:
                best[key] = (rows, substance)
    lines = ["drugname;Substance"]
    for key in sorted(best):
        substance = best[key][1]
        quoted_key = '"' + key.replace('"', '""') + '"' if (";" in key or '"' in key) else key
        lines.append(f'{quoted_key};"{substance}"' if ";" in substance else f"{quoted_key};{substance}")
    out.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return len(best)


def pinned_rules(altio_python: Path, dictionary: Path, dest: Path) -> Path:
    """A copy of Open Altio's packaged rules folder whose rule ``drug-names`` pins ``dictionary``'s sha256
    (nothing else changed); pass it as ``OPEN_ALTIO_RULES_DIR``. The package is located through the venv's
    own interpreter."""
    import hashlib

    package = subprocess.run(
        [
            str(altio_python),
            "-c",
            "import open_altio, pathlib; print(pathlib.Path(open_altio.__file__).parent)",
        ],  # noqa: E501
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(Path(package) / "rules", dest)
    sha = hashlib.sha256(dictionary.read_bytes()).hexdigest()
    rule = dest / "drug-names.md"
    text, count = re.subn(r"(?m)^(\s+sha256:\s*)[0-9a-f]{64}\s*$", rf"\g<1>{sha}", rule.read_text())
    if count != 1:
        raise SystemExit(f"could not find the one sha256 line to pin in {rule} (found {count})")
    rule.write_text(text)
    return dest


# --------------------------------------------------------------------------------------------------------
# Environments


def find_python312() -> Path:
    """A Python >= 3.12: pyenv's newest 3.12.x (the version Open Altio 1.0 was checked with here), else its
    newest later one, else python3.12/python3.13 on PATH."""
    pyenv = glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python"))
    candidates = sorted(
        pyenv,
        key=lambda p: (
            Path(p).parent.parent.name.startswith("3.12."),
            [int(part) for part in re.findall(r"\d+", Path(p).parent.parent.name)],
        ),
        reverse=True,
    )
    candidates += [p for p in (shutil.which("python3.12"), shutil.which("python3.13")) if p]
    for candidate in candidates:
        check = "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)"
        if subprocess.run([candidate, "-c", check]).returncode == 0:
            return Path(candidate)
    raise SystemExit("Open Altio needs Python >= 3.12: none found under ~/.pyenv/versions or on PATH")


def ensure_open_altio(venv: Path) -> Path:
    """The Open Altio venv's interpreter, creating the venv and installing ``open-altio`` and ``duckdb<2``
    (only there) when it is missing."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import open_altio, duckdb"]
    ready = python.exists() and subprocess.run(probe).returncode == 0
    if not ready:
        base = find_python312()
        print(f"creating {venv} with {base}; installing {' '.join(ALTIO_REQUIREMENTS)} (there only)")
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", *ALTIO_REQUIREMENTS], check=True)
    versions = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, duckdb; from importlib.metadata import version; "
            "print(sys.version.split()[0], version('open-altio'), duckdb.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if int(versions[2].split(".")[0]) >= 2:
        raise SystemExit(f"{venv} has duckdb {versions[2]}; Open Altio 1.0 needs 'duckdb<2'")
    print(f"Open Altio venv {venv}: Python {versions[0]}, open-altio {versions[1]}, duckdb {versions[2]}")
    return python


def pv_command() -> list[str]:
    script = Path(sys.executable).parent / "pv"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pv.cli"]


# --------------------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Run:
    phase: str
    tool: str
    seconds: float
    peak_mib: float
    sanity: dict = field(default_factory=dict)


def measure(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``command`` (output to ``log``); (wall seconds, peak RSS MiB). Stops on a non-zero exit."""
    stats = log.with_suffix(".rss")
    if TIME.exists():
        wrapped = [str(TIME), "-v", "-o", str(stats), *command]
    else:
        wrapped = [sys.executable, "-c", RSS_WRAPPER, str(stats), *command]
    with log.open("w") as out:
        started = time.perf_counter()
        code = subprocess.run(wrapped, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - started
    if code != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise SystemExit(f"failed ({code}): {' '.join(command)}\n--- last lines of {log} ---\n{tail}")
    text = stats.read_text()
    if TIME.exists():
        kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    else:
        kib = json.loads(text)["peak_kib"]
    return seconds, kib / 1024


def pv_cases(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select count(*) from curated.cases").fetchone()[0]


def altio_sanity(out: Path) -> dict:
    manifests = sorted(out.glob("*/manifest.json"))
    if not manifests:
        raise SystemExit(f"no Open Altio release with a manifest.json under {out}")
    manifest = json.loads(manifests[-1].read_text())
    counted = (manifest.get("statistics") or {}).get("counted") or {}
    dictionary = (manifest.get("drug_names") or {}).get("dictionary") or {}
    return {
        "release": manifest.get("release"),
        "quarters": manifest.get("quarters"),
        "cases_dedup": manifest.get("views", {}).get("views", {}).get("case_dedup_T", {}).get("rows"),
        "statistics_cases": counted.get("cases"),
        "statistics_pairs": counted.get("pairs"),
        "ingredients": counted.get("ingredients"),
        "dictionary_keys": dictionary.get("keys_with_a_substance"),
        "build_seconds": manifest.get("build_seconds"),
        "peak_rss_mib": round(manifest.get("peak_rss_bytes", 0) / 2**20),
        "release_mib": round(manifest.get("release_bytes", 0) / 2**20),
    }


# --------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quarters", default="2024Q1,2024Q2", help="comma-separated, in order of addition")
    parser.add_argument("--scale", type=float, default=1.0, help="pv synth scale (1.0 = a real quarter)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="generate into / reuse the zips in this folder")
    parser.add_argument("--work", type=Path, help="keep both tools' outputs here (default: temporary)")
    parser.add_argument("--altio-venv", type=Path, default=Path("/tmp/open-altio-venv"))
    parser.add_argument("--memory-limit", default=os.environ.get("PV_MEMORY_LIMIT", "4GB"))
    parser.add_argument("--threads", type=int, default=2, help="Open Altio's DuckDB threads")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from pv.quarters import Quarter

    quarters = [Quarter.parse(q.strip()) for q in args.quarters.split(",") if q.strip()]
    altio_python = ensure_open_altio(args.altio_venv)

    with tempfile.TemporaryDirectory(prefix="oa-bench-") as scratch:
        work = args.work or Path(scratch)
        if work.exists() and any(work.iterdir()) and args.work:
            raise SystemExit(f"--work {work} is not empty")
        work.mkdir(parents=True, exist_ok=True)
        synth = args.keep or work / "synth"
        zips = [synth / q.zip_name for q in quarters]
        if not all(z.exists() for z in zips):
            command = [*pv_command(), "synth", "--out", str(synth), "--quarters", args.quarters]
            command += ["--scale", str(args.scale), "--seed", str(args.seed), "--quiet"]
            print("generating:", " ".join(command), flush=True)
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        else:
            print(f"reusing {', '.join(z.name for z in zips)} in {synth} (--scale/--seed not applied)")
        zip_mb = [z.stat().st_size / 1e6 for z in zips]

        dictionary = work / "DiAna_dictionary.csv"
        keys = write_diana(synth / "ground_truth" / "drug_names.csv", dictionary)
        rules = pinned_rules(altio_python, dictionary, work / "altio-rules")
        print(f"DiAna dictionary from the ground truth: {keys:,} keys; sha256 pinned in {rules}")

        logs = work / "logs"
        logs.mkdir()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PV_", "OPEN_ALTIO_"))}
        pv_env = {**base_env, "PV_DATA_DIR": str(work / "pv"), "PV_MEMORY_LIMIT": args.memory_limit}
        altio_env = {
            **base_env,
            "OPEN_ALTIO_DATA_DIR": str(work / "altio-data"),
            "OPEN_ALTIO_RULES_DIR": str(rules),
        }
        runs: list[Run] = []
        for step, zip_path in enumerate(zips):
            phase = "first quarter" if step == 0 else f"add {quarters[step]}"
            print(f"\n== {phase}: {', '.join(z.name for z in zips[: step + 1])}", flush=True)

            command = [*pv_command(), "ingest", str(zip_path), "--quiet"]
            seconds, peak = measure(command, pv_env, logs / f"pv-{step}.log")
            cases = pv_cases(work / "pv" / "pv.duckdb")
            runs.append(Run(phase, "pv", seconds, peak, {"cases": cases}))
            print(f"pv ingest: {seconds:.1f} s, peak {peak:,.0f} MiB, curated.cases {cases:,}", flush=True)

            inputs = work / f"altio-input-{step}"
            inputs.mkdir()
            for earlier in zips[: step + 1]:
                try:
                    os.link(earlier, inputs / earlier.name)
                except OSError:
                    shutil.copy2(earlier, inputs / earlier.name)
            out = work / f"altio-out-{step}"
            # The inputs both ways Open Altio documents: its variables (what `open-altio build` reads) and the
            # pipeline command's flags (which also take the thread count and memory cap).
            altio_env |= {"OPEN_ALTIO_FDA_DIR": str(inputs), "OPEN_ALTIO_DIANA_DICTIONARY": str(dictionary)}
            command = [str(altio_python), "-m", "open_altio.faers", "build", "--input", str(inputs)]
            command += ["--out", str(out), "--diana", str(dictionary), "--overwrite"]
            command += ["--threads", str(args.threads), "--memory-limit", args.memory_limit]
            seconds, peak = measure(command, altio_env, logs / f"altio-{step}.log")
            sanity = altio_sanity(out)
            runs.append(Run(phase, "Open Altio", seconds, peak, sanity))
            print(
                f"Open Altio build: {seconds:.1f} s, peak {peak:,.0f} MiB, cases {sanity['cases_dedup']:,}, "
                f"pairs {sanity['statistics_pairs']:,}",
                flush=True,
            )
            # Free the disk: only the newest release of each phase matters, and it has been read.
            shutil.rmtree(inputs)

    print(
        f"\nquarters {args.quarters} (zips {', '.join(f'{mb:.0f} MB' for mb in zip_mb)}), memory cap "
        f"{args.memory_limit} for both, Open Altio --threads {args.threads}, {os.cpu_count()} cores"
    )
    print("| phase | tool | wall (s) | peak RSS (MiB) | sanity |")
    print("|---|---|---:|---:|---|")
    for run in runs:
        if run.tool == "pv":
            sanity = f"curated.cases {run.sanity['cases']:,}"
        else:
            s = run.sanity
            sanity = (
                f"cases (dedup) {s['cases_dedup']:,}; statistics: {s['statistics_cases']:,} cases, "
                f"{s['statistics_pairs']:,} pairs; manifest {s['build_seconds']:.1f} s, "
                f"{s['peak_rss_mib']:,} MiB"
            )
        print(f"| {run.phase} | {run.tool} | {run.seconds:.1f} | {run.peak_mib:,.0f} | {sanity} |")
    print("\n| phase | Open Altio / pv, wall | Open Altio / pv, peak RSS |")
    print("|---|---:|---:|")
    ratios = []
    for ours, theirs in zip(runs[::2], runs[1::2], strict=True):
        wall, rss = theirs.seconds / ours.seconds, theirs.peak_mib / ours.peak_mib
        ratios.append({"phase": ours.phase, "wall": wall, "peak_rss": rss})
        print(f"| {ours.phase} | {wall:.2f} | {rss:.2f} |")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "quarters": args.quarters,
                    "zip_mb": zip_mb,
                    "memory_limit": args.memory_limit,
                    "altio_threads": args.threads,
                    "cpu_count": os.cpu_count(),
                    "dictionary_keys": keys,
                    "runs": [asdict(run) for run in runs],
                    "ratios": ratios,
                },
                indent=2,
            )
        )
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
