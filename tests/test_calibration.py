"""Controls and calibration: the reviewed DM controls, their planting in the generator, marts.calibration
recounted from marts.signals for every variant. Exact figures on a larger generated population (and the
coverage of the true rates) are in test_signals.py, which builds it."""

from __future__ import annotations

import csv

import duckdb
import pandas as pd
import pytest

from pv.counts import HEADLINE_EVENTS
from pv.normalize import drug_names
from pv.resources import vocab_dir
from pv.signals import CALIBRATION_RULES
from pv.synth.content import CONTROL_DM_RR
from pv.synth.vocab import Vocab

CONTROLS = vocab_dir() / "dm_controls.csv"
COLUMNS = ["control", "drug_level", "drug", "event", "rationale", "source"]


def controls() -> pd.DataFrame:
    return pd.read_csv(CONTROLS, keep_default_na=False)


def test_controls_csv_is_well_formed_and_cited():
    with CONTROLS.open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == COLUMNS
    frame = controls()
    assert set(frame["control"]) == {"positive", "negative"}
    assert set(frame["drug_level"]) == {"ingredient"}
    assert set(frame["event"]) == set(HEADLINE_EVENTS) == {"dm_narrow", "dm_broad"}
    assert not frame.duplicated(["drug_level", "drug", "event"]).any()
    assert (frame["rationale"].str.len() > 10).all() and (frame["source"].str.len() > 10).all()
    # a drug is a positive or a negative control, never both
    assert frame.groupby("drug")["control"].nunique().max() == 1
    assert (frame["control"] == "positive").sum() == 21 and (frame["control"] == "negative").sum() == 12


def test_every_control_is_named_as_the_pipeline_names_the_ingredient():
    names = sorted(set(controls()["drug"]))
    found = drug_names([name.upper() for name in names])["ingredients"]
    assert [list(ingredients) for ingredients in found] == [[name] for name in names]


def test_the_generator_plants_every_control_its_catalogue_has_at_a_realistic_rate():
    frame = controls()
    catalogue = set(Vocab().bg_ingredients)
    assert set(CONTROL_DM_RR) == set(frame["drug"]) & catalogue
    assert set(frame["drug"]) - catalogue == {"hydroxyurea", "penicillamine", "pravastatin"}
    kind = frame.groupby("drug")["control"].first()
    for drug, rate in CONTROL_DM_RR.items():
        assert (2.0 <= rate <= 10.0) if kind[drug] == "positive" else rate == 1.0, drug


def test_ground_truth_records_every_planted_control(generated):
    truth = pd.read_csv(generated / "ground_truth/associations.csv", keep_default_na=False)
    planted = truth[truth["drug"].isin(list(CONTROL_DM_RR))]
    assert len(planted) == 2 * len(CONTROL_DM_RR)  # strata all and cancer
    assert set(planted["event"]) == {"Dermatomyositis"}
    assert dict(zip(planted["drug"], planted["planted_rr"], strict=True)) == CONTROL_DM_RR


@pytest.fixture(scope="module")
def stored(generated) -> tuple[pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        calibration = con.sql("select * from marts.calibration").df()
        rules = ", ".join(CALIBRATION_RULES)
        signals = con.sql(
            f"select drug_level, drug, event, role, comparator, duplicates, a, {rules} "
            "from marts.signals where event_level = 'group'"
        ).df()
    return calibration, signals


def test_calibration_has_every_rule_event_group_and_variant(stored):
    calibration, signals = stored
    variants = signals[["role", "comparator", "duplicates"]].drop_duplicates()
    assert len(calibration) == len(CALIBRATION_RULES) * 2 * len(variants)
    assert set(calibration["rule"]) == set(CALIBRATION_RULES)
    assert (
        calibration["positive_controls"] == calibration["event"].map({"dm_narrow": 12, "dm_broad": 9})
    ).all()
    assert (calibration["negative_controls"] == 6).all()


def test_calibration_counts_equal_a_recount_from_signals(stored):
    calibration, signals = stored
    merged = controls().merge(signals[signals["a"] > 0], on=["drug_level", "drug", "event"])
    keys = ["event", "role", "comparator", "duplicates"]
    for row in calibration.itertuples():
        chosen = merged[(merged[keys] == [row.event, row.role, row.comparator, row.duplicates]).all(axis=1)]
        for kind in ("positive", "negative"):
            mine = chosen[chosen["control"] == kind]
            assert getattr(row, f"{kind}_present") == len(mine), row
            assert getattr(row, f"{kind}_flagged") == int(mine[row.rule].fillna(False).sum()), row
        sensitivity = row.positive_flagged / row.positive_present if row.positive_present else None
        assert (
            (row.sensitivity == pytest.approx(sensitivity))
            if sensitivity is not None
            else pd.isna(row.sensitivity)
        )
        reasons = [
            reason
            for reason, missing in (
                ("sensitivity: no positive control present", row.positive_present == 0),
                ("false_positive_share: no negative control present", row.negative_present == 0),
            )
            if missing
        ]
        assert (row.reason if isinstance(row.reason, str) else None) == ("; ".join(reasons) or None)
