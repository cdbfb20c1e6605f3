"""MedDRA term text → PT and groups: the DM definitions of vocabulary.md §6.1, near misses, the text variants
of §6.2 (case, ``^``, apostrophes, hyphens, US spelling, renames), indication groups (§6.3), the SQL door."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pv.errors import UserError
from pv.normalize import build_term_maps, event_terms, indication_terms, term_key
from pv.normalize import events as ev

NARROW = ["dm_broad", "dm_narrow"]
BROAD = ["dm_broad"]
BREAST = ["breast_cancer", "oncology"]
ONCOLOGY = ["oncology"]
VOCAB = Path(ev.VOCAB_DIR)


def answer(frame: pd.DataFrame) -> tuple[str | None, list[str]]:
    row = frame.iloc[0]
    return (None if pd.isna(row.pt) else row.pt), list(row.groups)


def read_fixture(samples: Path, relative: str, column: str) -> list[str]:
    frame = pd.read_csv(
        samples / relative, sep="$", dtype=str, quoting=3, engine="python", keep_default_na=False
    )
    return sorted(set(frame[column]))


def fixed_keys() -> set[str]:
    with (VOCAB / "pt_fixes.csv").open(newline="") as handle:
        return {term_key(row["from"]) for row in csv.DictReader(handle)}


# ----------------------------------------------------------------------------------------------------
# term_key


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Dermatomyositis", "DERMATOMYOSITIS"),
        ("Mechanic's hand", "Mechanic^s hand"),
        ("Mechanic's hand", "Mechanics hand"),
        ("Mechanic's hand", "MECHANIC\u2019S  HAND"),
        ("Antisynthetase syndrome", "Anti-synthetase syndrome"),
        ("Necrotising myositis", "Necrotizing myositis"),
        ("Tumour lysis syndrome", "tumor lysis syndrome"),
        ("Haemorrhage", "hemorrhage"),
        ("Ischaemic stroke", "ischemic stroke"),
        ("Oesophageal carcinoma", "esophageal carcinoma"),
        ("Anaemia", "anemia"),
        ("Oedema peripheral", "edema peripheral"),
        ("Acute myeloid leukaemia", "acute myeloid leukemia"),
        ("Organising pneumonia", "organizing pneumonia"),
        ("Luteinising hormone deficiency", "luteinizing hormone deficiency"),
        ("Diarrhoea", "diarrhea"),
        ("Dyspnoea", "dyspnea"),
        ("Paraesthesia", "paresthesia"),
        ("Gastrooesophageal reflux disease", "Gastroesophageal reflux disease"),
        ("Hormone receptor positive breast cancer", "hormone receptor positive breast cancer."),
        ("  Heliotrope \t rash ", "Heliotrope rash"),
    ],
)
def test_term_key_unifies_variants(left: str, right: str) -> None:
    assert term_key(left) == term_key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Dermatomyositis", "Dermatomycosis"),
        ("Myositis", "Myosis"),
        ("Myositis", "Myelitis"),
        ("Hemiplegia", "Haemiplegia"),  # hemi- is not a US spelling
        ("Angioedema", "Angiooedema"),
    ],
)
def test_term_key_keeps_distinct_terms_apart(left: str, right: str) -> None:
    assert term_key(left) != term_key(right)


def test_term_key_examples() -> None:
    assert term_key("Crohn^s  Disease") == "crohns disease"
    assert term_key("HER-2 positive breast cancer") == "her2 positive breast cancer"
    assert term_key(None) == ""


# ----------------------------------------------------------------------------------------------------
# DM groups (vocabulary.md §6.1, decided definitions)

DM_CASES = [
    # dm_narrow PTs and the non-PT dermatomyositis strings (rewritten to the PT Dermatomyositis)
    ("Dermatomyositis", "Dermatomyositis", NARROW),
    ("DERMATOMYOSITIS", "Dermatomyositis", NARROW),
    ("dermatomyositis", "Dermatomyositis", NARROW),
    ("Paraneoplastic dermatomyositis", "Paraneoplastic dermatomyositis", NARROW + ["dm_paraneoplastic"]),
    ("PARANEOPLASTIC DERMATOMYOSITIS", "Paraneoplastic dermatomyositis", NARROW + ["dm_paraneoplastic"]),
    ("childhood dermatomyositis", "Dermatomyositis", NARROW),
    ("Juvenile dermatomyositis", "Dermatomyositis", NARROW),
    ("JUVENILE DERMATOMYOSITIS", "Dermatomyositis", NARROW),
    ("amyopathic dermatomyositis", "Dermatomyositis", NARROW),
    ("Clinically amyopathic dermatomyositis", "Dermatomyositis", NARROW),
    # dm_broad
    ("Polymyositis", "Polymyositis", BROAD),
    ("POLYMYOSITIS", "Polymyositis", BROAD),
    ("Juvenile polymyositis", "Juvenile polymyositis", BROAD),
    ("Myositis", "Myositis", BROAD),
    ("Immune-mediated myositis", "Immune-mediated myositis", BROAD),
    ("Immune mediated myositis", "Immune-mediated myositis", BROAD),
    ("IMMUNE-MEDIATED MYOSITIS", "Immune-mediated myositis", BROAD),
    ("Autoimmune myositis", "Autoimmune myositis", BROAD),
    ("Necrotising myositis", "Necrotising myositis", BROAD),
    ("Necrotizing myositis", "Necrotising myositis", BROAD),
    ("NECROTIZING MYOSITIS", "Necrotising myositis", BROAD),
    ("Antisynthetase syndrome", "Antisynthetase syndrome", BROAD),
    ("Anti-synthetase syndrome", "Antisynthetase syndrome", BROAD),
    ("antisynthetase syndrome", "Antisynthetase syndrome", BROAD),
    ("Anti synthetase syndrome", "Antisynthetase syndrome", BROAD),
    ("Focal myositis", "Focal myositis", BROAD),
    ("Lupus myositis", "Lupus myositis", BROAD),
    ("Myositis-like syndrome", "Myositis-like syndrome", BROAD),
    ("Myositis like syndrome", "Myositis-like syndrome", BROAD),
    ("Inclusion body myositis", "Inclusion body myositis", BROAD),
    ("Sporadic inclusion body myositis", "Inclusion body myositis", BROAD),
    ("Heliotrope rash", "Heliotrope rash", BROAD),
    ("  Heliotrope   rash ", "Heliotrope rash", BROAD),
    ("Mechanic's hand", "Mechanic's hand", BROAD),
    ("Mechanic^s hand", "Mechanic's hand", BROAD),
    ("Mechanics hand", "Mechanic's hand", BROAD),
    ("MECHANIC'S HAND", "Mechanic's hand", BROAD),
    ("Mechanic\u2019s hand", "Mechanic's hand", BROAD),
    ("Gottron's papules", "Gottron's papules", BROAD),
    ("GOTTRON'S PAPULES", "Gottron's papules", BROAD),
    ("Gottrons papules", "Gottron's papules", BROAD),
    ("Gottron^s papules", "Gottron's papules", BROAD),
    ("Gottron papules", "Gottron's papules", BROAD),
    # clinical synonyms of immune-mediated necrotising myopathy → Immune-mediated myositis (DiAna row 371)
    ("immune-mediated necrotising myopathy", "Immune-mediated myositis", BROAD),
    ("immune-mediated necrotizing myopathy", "Immune-mediated myositis", BROAD),
    ("Immune mediated necrotizing myopathy", "Immune-mediated myositis", BROAD),
    ("necrotising autoimmune myopathy", "Immune-mediated myositis", BROAD),
    ("Necrotizing autoimmune myopathy", "Immune-mediated myositis", BROAD),
]


@pytest.mark.parametrize(("raw", "pt", "groups"), DM_CASES)
def test_dm_terms(raw: str, pt: str, groups: list[str]) -> None:
    assert answer(event_terms([raw])) == (pt, groups)


NEAR_MISSES = [
    ("Dermatomycosis", "Dermatomycosis"),
    ("DERMATOMYCOSIS", "Dermatomycosis"),
    ("Polymyalgia rheumatica", "Polymyalgia rheumatica"),
    ("Myelitis", "Myelitis"),
    ("Myosis", "Myosis"),
    ("Miosis", "Miosis"),
    ("Immune-mediated myocarditis", "Immune-mediated myocarditis"),
    ("immune mediated myocarditis", "Immune-mediated myocarditis"),
    ("Infective myositis", "Infective myositis"),
    ("Viral myositis", "Viral myositis"),
    ("Orbital myositis", "Orbital myositis"),
    ("Pyomyositis", "Pyomyositis"),
    ("PYOMYOSITIS", "Pyomyositis"),
    ("Myositis ossificans", "Myositis ossificans"),
    ("Overlap syndrome", "Overlap syndrome"),
    ("Myopathy", "Myopathy"),
    ("Rhabdomyolysis", "Rhabdomyolysis"),
    ("Myelitis transverse", "Myelitis transverse"),
]


@pytest.mark.parametrize(("raw", "pt"), NEAR_MISSES)
def test_near_misses_never_join_dm_groups(raw: str, pt: str) -> None:
    got_pt, groups = answer(event_terms([raw]))
    assert got_pt == pt
    assert not [group for group in groups if group.startswith("dm_")]


def test_every_listed_near_miss_stays_out_of_dm_groups() -> None:
    with (VOCAB / "event_near_misses.csv").open(newline="") as handle:
        terms = [row["term"] for row in csv.DictReader(handle)]
    frame = event_terms(terms + [t.upper() for t in terms])
    assert len(terms) >= 12
    assert not any(group.startswith("dm_") for groups in frame.groups for group in groups)


@pytest.mark.parametrize(
    ("raw", "pt", "groups"),
    [
        ("Myopathy", "Myopathy", ["myopathy_sensitivity"]),
        ("MYOPATHY TOXIC", "Myopathy toxic", ["myopathy_sensitivity"]),
        ("Toxic myopathy", "Myopathy toxic", ["myopathy_sensitivity"]),
        ("Rhabdomyolysis", "Rhabdomyolysis", ["myopathy_sensitivity"]),
        (
            "Blood creatine phosphokinase increased",
            "Blood creatine phosphokinase increased",
            ["myopathy_sensitivity"],
        ),
        ("CK increased", "Blood creatine phosphokinase increased", ["myopathy_sensitivity"]),
        ("Overlap syndrome", "Overlap syndrome", ["overlap_syndrome_flag"]),
    ],
)
def test_sensitivity_and_flag_groups(raw: str, pt: str, groups: list[str]) -> None:
    assert answer(event_terms([raw])) == (pt, groups)


# ----------------------------------------------------------------------------------------------------
# Text variants, renames, the rule for unknown terms


@pytest.mark.parametrize(
    ("raw", "pt"),
    [
        ("Crohn^s disease", "Crohn's disease"),
        ("CROHN'S DISEASE", "Crohn's disease"),
        ("crohns disease", "Crohn's disease"),
        ("CONVULSION", "Seizure"),
        ("RENAL FAILURE ACUTE", "Acute kidney injury"),
        ("Menorrhagia", "Heavy menstrual bleeding"),
        ("COVID-19", "COVID-19"),
        ("DIARRHOEA", "Diarrhoea"),
        ("pyrexia", "Pyrexia"),
        ("Breast cancer.", "Breast cancer"),
        ("Parkinson^s disease", "Parkinson's disease"),
    ],
)
def test_canonical_pt_text(raw: str, pt: str) -> None:
    assert answer(event_terms([raw]))[0] == pt


def test_spellings_of_one_unknown_term_get_one_pt() -> None:
    """Mixed case (MedDRA capitalisation) beats single case, British beats US, then the most frequent."""
    frame = event_terms(["HIV INFECTION", "HIV infection", "Tumor lysis syndrome", "Tumour lysis syndrome"])
    assert list(frame.pt) == [
        "HIV infection",
        "HIV infection",
        "Tumour lysis syndrome",
        "Tumour lysis syndrome",
    ]
    assert list(event_terms(["Foo Bar", "Foo bar", "Foo bar"]).pt) == ["Foo bar"] * 3
    # alone, all-capitals text can only be sentence-cased (documented limitation without MedDRA)
    assert list(event_terms(["HIV INFECTION"]).pt) == ["Hiv infection"]


def test_one_row_per_input_in_order() -> None:
    frame = event_terms(pd.Series(["Myositis", None, "myositis", "  ", float("nan"), "Pyrexia"]))
    assert list(frame.columns) == ["raw", "pt", "groups"]
    assert len(frame) == 6
    assert frame.raw.iloc[0] == "Myositis" and frame.raw.iloc[2] == "myositis"
    assert [None if pd.isna(p) else p for p in frame.pt] == [
        "Myositis",
        None,
        "Myositis",
        None,
        None,
        "Pyrexia",
    ]
    assert [list(g) for g in frame.groups] == [BROAD, [], BROAD, [], [], []]


def test_current_faers_text_is_kept_as_published(samples: Path) -> None:
    """FAERS (2012Q4+) already writes MedDRA capitalisation: only pt_fixes.csv rewrites anything."""
    fixes = fixed_keys()
    for relative, column, function in [
        ("2025q4/REAC25Q4.txt", "pt", event_terms),
        ("2025q4/INDI25Q4.txt", "indi_pt", indication_terms),
        ("2020q3/heads_10k/REAC20Q3-10000.txt", "pt", event_terms),
        ("2017q2/ascii/REAC17Q2.txt", "pt", event_terms),
        ("2017q2/ascii/INDI17Q2.txt", "indi_pt", indication_terms),
    ]:
        terms = read_fixture(samples, relative, column)
        frame = function(terms)
        changed = frame[frame.raw != frame.pt]
        assert all(term_key(raw) in fixes for raw in changed.raw), (relative, list(changed.raw))


def test_real_fixture_dm_and_indication_terms(samples: Path) -> None:
    reac = event_terms(read_fixture(samples, "2025q4/REAC25Q4.txt", "pt"))
    grouped = {row.pt: list(row.groups) for row in reac.itertuples() if row.groups}
    assert grouped["Immune-mediated myositis"] == BROAD
    assert grouped["Rhabdomyolysis"] == ["myopathy_sensitivity"]
    indi = indication_terms(read_fixture(samples, "2025q4/INDI25Q4.txt", "indi_pt"))
    groups = {row.pt: list(row.groups) for row in indi.itertuples()}
    assert groups["HER2 positive breast cancer"] == BREAST
    assert groups["Triple negative breast cancer"] == BREAST
    assert groups["Plasma cell myeloma"] == ONCOLOGY
    assert groups["Product used for unknown indication"] == ["unknown_indication"]
    assert groups["Dermatomyositis"] == []  # INDI terms are never events
    assert groups["Benign lung neoplasm"] == []


def test_legacy_upper_case_terms(samples: Path) -> None:
    """Legacy AERS (2004Q1) is upper case: sentence case unless a rename applies."""
    fixes = fixed_keys()
    terms = read_fixture(samples, "2004q1/ascii/REAC04Q1.TXT", "pt")
    frame = event_terms(terms)
    for raw, pt in zip(frame.raw, frame.pt, strict=True):
        assert pt == raw.capitalize() or term_key(raw) in fixes, raw
    indi = indication_terms(read_fixture(samples, "2004q1/ascii/INDI04Q1.TXT", "indi_pt"))
    got = {row.raw: (row.pt, list(row.groups)) for row in indi.itertuples()}
    assert got["BREAST CANCER"] == ("Breast cancer", BREAST)
    assert got["DRUG USE FOR UNKNOWN INDICATION"] == (
        "Product used for unknown indication",
        ["unknown_indication"],
    )
    assert got["MULTIPLE MYELOMA"] == ("Plasma cell myeloma", ONCOLOGY)


# ----------------------------------------------------------------------------------------------------
# Indications (vocabulary.md §6.3)

BREAST_CANCER_PTS = [
    "Breast cancer",
    "Breast cancer female",
    "Breast cancer male",
    "Breast cancer metastatic",
    "Breast cancer recurrent",
    "Breast cancer stage I",
    "Breast cancer stage II",
    "Breast cancer stage III",
    "Breast cancer stage IV",
    "Breast cancer in situ",
    "HER2 positive breast cancer",
    "HER2 negative breast cancer",
    "Triple positive breast cancer",
    "Triple negative breast cancer",
    "Hormone receptor positive breast cancer",
    "Hormone refractory breast cancer",
    "Invasive breast carcinoma",
    "Invasive ductal breast carcinoma",
    "Invasive lobular breast carcinoma",
    "Inflammatory carcinoma of the breast",
    "Inflammatory carcinoma of breast recurrent",
    "Inflammatory carcinoma of breast stage III",
    "Inflammatory carcinoma of breast stage IV",
    "Breast neoplasm",
    "Metastases to breast",
    "Paget's disease of nipple",
]


@pytest.mark.parametrize("pt", BREAST_CANCER_PTS)
def test_breast_cancer_pts(pt: str) -> None:
    assert answer(indication_terms([pt])) == (pt, BREAST)
    assert answer(indication_terms([pt.upper()])) == (pt, BREAST)


@pytest.mark.parametrize(
    ("raw", "pt"),
    [
        ("metastatic breast cancer", "Breast cancer metastatic"),
        ("breast carcinoma", "Breast cancer"),
        ("her-2 positive breast cancer", "HER2 positive breast cancer"),
        ("HER-2 POSITIVE BREAST CANCER", "HER2 positive breast cancer"),
        ("oestrogen receptor positive breast cancer", "Hormone receptor positive breast cancer"),
        ("estrogen receptor positive breast cancer", "Hormone receptor positive breast cancer"),
        ("malignant neoplasm of female breast, unspecified", "Breast cancer female"),
        ("Paget^s disease of nipple", "Paget's disease of nipple"),
    ],
)
def test_diana_breast_cancer_strings(raw: str, pt: str) -> None:
    assert answer(indication_terms([raw])) == (pt, BREAST)


@pytest.mark.parametrize(
    "raw",
    [
        "Metaplastic breast carcinoma",
        "Mucinous breast carcinoma",
        "Tubular breast carcinoma",
        "Medullary breast carcinoma",
        "Apocrine breast carcinoma",
        "Papillary breast cancer",
        "Squamous cell breast carcinoma",
        "HER2 low breast cancer",
        "Carcinoma of the breast",
        "Breast adenocarcinoma",
    ],
)
def test_breast_cancer_patterns(raw: str) -> None:
    assert answer(indication_terms([raw]))[1] == BREAST


@pytest.mark.parametrize(
    ("raw", "pt"),
    [
        ("Non-small cell lung cancer", "Non-small cell lung cancer"),
        ("HER2 positive gastric cancer", "HER2 positive gastric cancer"),
        ("Gastric cancer", "Gastric cancer"),
        ("Ovarian cancer", "Ovarian cancer"),
        ("Prostate cancer metastatic", "Prostate cancer metastatic"),
        ("Pancreatic carcinoma", "Pancreatic carcinoma"),
        ("Kaposi^s sarcoma", "Kaposi's sarcoma"),
        ("Neoplasm malignant", "Neoplasm malignant"),
        ("Multiple myeloma", "Plasma cell myeloma"),
        ("Acute myeloid leukemia", "Acute myeloid leukemia"),
        ("Hodgkin's disease", "Hodgkin's disease"),
        ("Non-Hodgkin^s lymphoma", "Non-Hodgkin's lymphoma"),
        ("Glioblastoma", "Glioblastoma"),
        ("Metastases to liver", "Metastases to liver"),
        ("Malignant melanoma", "Malignant melanoma"),
        ("Pleural mesothelioma malignant", "Pleural mesothelioma malignant"),
        ("Gastrointestinal stromal tumor", "Gastrointestinal stromal tumor"),
        ("HER2 protein overexpression", "HER2 protein overexpression"),
        ("Neoplasm", "Neoplasm"),
        ("Gastric neoplasm", "Gastric neoplasm"),
        ("Carcinoid syndrome", "Carcinoid syndrome"),
        ("Hepatic neoplasm malignant", "Hepatic cancer"),
    ],
)
def test_oncology_not_breast(raw: str, pt: str) -> None:
    assert answer(indication_terms([raw])) == (pt, ONCOLOGY)


@pytest.mark.parametrize(
    ("raw", "pt"),
    [
        ("Product used for unknown indication", "Product used for unknown indication"),
        ("PRODUCT USED FOR UNKNOWN INDICATION", "Product used for unknown indication"),
        ("Drug use for unknown indication", "Product used for unknown indication"),
        ("drug use  for unknown indication", "Product used for unknown indication"),
        ("Unknown indication", "Product used for unknown indication"),
    ],
)
def test_unknown_indication(raw: str, pt: str) -> None:
    assert answer(indication_terms([raw])) == (pt, ["unknown_indication"])


@pytest.mark.parametrize(
    "raw",
    [
        "Hypertension",
        "Benign breast neoplasm",
        "Tumour lysis syndrome",
        "Tumor lysis syndrome",
        "Tumour flare",
        "Tumour necrosis factor receptor-associated periodic syndrome",
        "Malignant hypertension",
        "Neuroleptic malignant syndrome",
        "Malignant hyperthermia",
        "Osteoblastoma",
        "Metastatic calcification",
        "Breast cancer screening",
        "Family history of breast cancer",
        "Breast cancer prophylaxis",
        "Lymphadenopathy",
        "Pseudolymphoma",
        "Sarcoidosis",
        "Monoclonal gammopathy",
        "Pituitary tumour",
        "Dermatomyositis",
        "Chemotherapy",
    ],
)
def test_not_oncology(raw: str) -> None:
    assert answer(indication_terms([raw]))[1] == []


def test_event_and_indication_groups_stay_apart() -> None:
    assert answer(event_terms(["Breast cancer"])) == ("Breast cancer", [])
    assert answer(indication_terms(["Polymyositis"])) == ("Polymyositis", [])


# ----------------------------------------------------------------------------------------------------
# Vocabulary files are validated


def copy_vocab(tmp_path: Path) -> Path:
    folder = tmp_path / "vocab"
    shutil.copytree(VOCAB, folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")


def test_shipped_vocabulary_loads() -> None:
    vocabulary = ev.load_vocabulary(VOCAB)
    assert vocabulary.event_groups.get(term_key("Dermatomyositis")) == frozenset({"dm_narrow"})
    assert vocabulary.indication_patterns


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("event_near_misses.csv", "Polymyositis,oops,test", "event_near_misses.csv"),
        ("event_near_misses.csv", "Juvenile dermatomyositis,oops,test", "event_near_misses.csv"),
        ("pt_fixes.csv", "Polymyositis,Myositis,oops,test", "pt_fixes.csv"),
        ("pt_fixes.csv", "Childhood dermatomyositis,Polymyositis,oops,test", "pt_fixes.csv"),
        ("pt_fixes.csv", "Seizure,Convulsion,oops,test", "pt_fixes.csv"),
        ("indication_groups.csv", "oncology,(unclosed,pattern,oops", "indication_groups.csv"),
        ("indication_groups.csv", "oncology,Foo,regex,oops", "indication_groups.csv"),
        ("event_groups.csv", "dm_broad,MECHANICS HAND,PT,oops,test", "event_groups.csv"),
        ("event_groups.csv", "DM Broad,Myositis,PT,oops,test", "event_groups.csv"),
    ],
)
def test_contradictory_vocabulary_is_refused(tmp_path: Path, file: str, line: str, message: str) -> None:
    folder = copy_vocab(tmp_path)
    append(folder / file, line)
    with pytest.raises(UserError, match=message):
        ev.load_vocabulary(folder)


# ----------------------------------------------------------------------------------------------------
# SQL door


def python_answer(frame: pd.DataFrame) -> dict[str, tuple[str | None, list[str]]]:
    return {
        row.raw: (None if pd.isna(row.pt) else row.pt, list(row.groups))
        for row in frame.itertuples()
        if isinstance(row.raw, str)
    }


def sql_answer(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[str | None, list[str]]]:
    rows = con.execute(f"select raw, pt, groups from {table}").fetchall()
    return {raw: (pt, list(groups)) for raw, pt, groups in rows}


def test_sql_door_equals_python_door() -> None:
    events = [raw for raw, _pt, _groups in DM_CASES] + [raw for raw, _pt in NEAR_MISSES]
    events += ["HIV INFECTION", "HIV infection", "Crohn^s disease", "CONVULSION", "  ", "Foo Bar", "Foo bar"]
    events += ["Myositis", "Myositis"]  # duplicates count as occurrences on both doors
    indications = BREAST_CANCER_PTS + [
        "her-2 positive breast cancer",
        "Non-small cell lung cancer",
        "Hypertension",
    ]
    indications += ["Product used for unknown indication", "Benign breast neoplasm", "Tumour lysis syndrome"]
    con = duckdb.connect()
    con.execute("create table reac(pt varchar)")
    con.executemany("insert into reac values (?)", [[t] for t in events + [None]])
    con.execute("create table indi(indi_pt varchar)")
    con.executemany("insert into indi values (?)", [[t] for t in indications])

    counts = build_term_maps(con, "select pt as term from reac", "select indi_pt as term from indi")

    assert sql_answer(con, "curated.event_term_map") == python_answer(event_terms(events + [None]))
    assert sql_answer(con, "curated.indication_term_map") == python_answer(indication_terms(indications))
    assert counts["event_terms"] == len(set(events))
    assert counts["indication_terms"] == len(set(indications))
    assert counts["indication_group_breast_cancer"] == len(BREAST_CANCER_PTS) + 1
    assert counts["event_group_dm_narrow"] == sum("dm_narrow" in groups for *_, groups in DM_CASES)
    types = dict(
        con.execute("select column_name, column_type from (describe curated.event_term_map)").fetchall()
    )
    assert types == {
        "raw": "VARCHAR",
        "pt": "VARCHAR",
        "groups": "VARCHAR[]",
        "pt_code": "BIGINT",
        "llt_code": "BIGINT",
        "hlt": "VARCHAR",
        "hlgt": "VARCHAR",
        "soc": "VARCHAR",
        "meddra_version": "VARCHAR",
    }
    nulls = con.execute(
        "select count(*) from curated.event_term_map where coalesce(pt_code, llt_code) is not null "
        "or coalesce(hlt, hlgt, soc, meddra_version) is not null"
    ).fetchone()
    assert nulls == (0,)
    # joins work on the raw text and the list column
    hits = con.execute(
        "select count(*) from reac join curated.event_term_map m on m.raw = reac.pt "
        "where list_contains(m.groups, 'dm_narrow')"
    ).fetchone()
    assert hits == (sum("dm_narrow" in groups for *_, groups in DM_CASES),)
    # a second run replaces the tables
    build_term_maps(
        con, "select pt as term from reac where pt = 'Myositis'", "select indi_pt as term from indi"
    )
    assert con.execute("select count(*) from curated.event_term_map").fetchone() == (1,)


def test_sql_door_on_a_real_quarter(samples: Path) -> None:
    con = duckdb.connect()
    read = "read_csv('{}', delim='$', header=true, quote='', escape='', all_varchar=true)"
    reac = read.format(samples / "2025q4/REAC25Q4.txt")
    indi = read.format(samples / "2025q4/INDI25Q4.txt")
    build_term_maps(
        con, f"select pt as term from {reac}", f"select indi_pt as term from {indi}", "event_map", "ind.map"
    )
    reac_rows = [r[0] for r in con.execute(f"select pt from {reac}").fetchall()]
    indi_rows = [r[0] for r in con.execute(f"select indi_pt from {indi}").fetchall()]
    assert sql_answer(con, "event_map") == python_answer(event_terms(reac_rows))
    assert sql_answer(con, "ind.map") == python_answer(indication_terms(indi_rows))


@pytest.mark.parametrize(
    ("reac_sql", "table", "message"),
    [
        ("select 'Myositis' as pt", "curated.event_term_map", "one column named term"),
        ("select * from no_such_table", "curated.event_term_map", "reac_sql"),
        ("select 'Myositis' as term", "curated.event term map", "table name"),
    ],
)
def test_sql_door_errors(reac_sql: str, table: str, message: str) -> None:
    con = duckdb.connect()
    with pytest.raises(UserError, match=message):
        build_term_maps(con, reac_sql, "select 'Breast cancer' as term", event_table=table)


def test_sql_door_commits_on_its_own_even_inside_a_callers_transaction() -> None:
    con = duckdb.connect()
    con.execute("create table reac(pt varchar)")
    con.execute("begin transaction")
    con.execute("insert into reac values ('Myositis')")
    build_term_maps(con, "select pt as term from reac", "select 'Breast cancer' as term")
    con.execute("rollback")  # the caller's transaction is still usable and its own
    assert con.execute("select pt, groups from curated.event_term_map").fetchall() == [("Myositis", BROAD)]
    assert con.execute("select count(*) from reac").fetchone() == (0,)
