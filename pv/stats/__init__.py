"""Disproportionality statistics for report-level drug-event 2x2 tables (``statistics.md``).

* :mod:`pv.stats.tables`: report-level counting, PRR/chi-square/ROR/shrinkage IC, Haldane aux, signal rules;
* :mod:`pv.stats.gps`: the GPS (MGPS) two-gamma prior, its truncated likelihood, squashing and ML fit;
* :mod:`pv.stats.posterior`: Qn, EBGM and exact EB05/EB95 under a fixed prior;
* :mod:`pv.stats.stratified`: Mantel-Haenszel ROR/PRR with RBG / Greenland-Robins CIs, Breslow-Day with
  Tarone's correction, stratified E, one-sided Wald p, Benjamini-Hochberg q-values, masking ratio and rule.
* :mod:`pv.stats.weibull`: the Weibull time-to-onset shape with its profile-likelihood CI.

The disproportionality functions are vectorised over pairs (numpy/scipy, no per-pair Python loops).
"""

from pv.stats.gps import (
    AGREEMENT_TOLERANCE,
    DEFAULT_STARTS,
    GpsPrior,
    fit_gps_prior,
    negative_log_likelihood,
    squash_points,
)
from pv.stats.posterior import (
    QUANTILE_TOLERANCE,
    QuantileError,
    ebgm,
    posterior_cdf,
    posterior_qn,
    posterior_quantile,
)
from pv.stats.stratified import (
    BD_STATUS,
    FDR_LEVEL,
    MASKING_STATUS,
    MH_STATUS,
    MaskingRule,
    bh_qvalues,
    breslow_day,
    masking_ratio,
    masking_rule,
    mh_prr,
    mh_prr_from_sums,
    mh_prr_sums,
    mh_ror,
    mh_ror_fdr,
    mh_ror_from_sums,
    mh_ror_sums,
    ror_fdr,
    select_maskers,
    stratified_expected,
    wald_p_one_sided,
)
from pv.stats.tables import (
    DISPROPORTIONALITY_COLUMNS,
    PRR_TOLERANCE,
    Z95,
    disproportionality,
    haldane,
    report_level_counts,
    shrinkage_ic,
    signal_flags,
)
from pv.stats.weibull import MIN_WEIBULL_ONSETS, weibull_exact, weibull_interval

__all__ = [
    "AGREEMENT_TOLERANCE",
    "BD_STATUS",
    "DEFAULT_STARTS",
    "DISPROPORTIONALITY_COLUMNS",
    "MASKING_STATUS",
    "FDR_LEVEL",
    "MH_STATUS",
    "PRR_TOLERANCE",
    "QUANTILE_TOLERANCE",
    "Z95",
    "MIN_WEIBULL_ONSETS",
    "GpsPrior",
    "MaskingRule",
    "QuantileError",
    "bh_qvalues",
    "breslow_day",
    "disproportionality",
    "ebgm",
    "fit_gps_prior",
    "haldane",
    "masking_ratio",
    "masking_rule",
    "mh_prr",
    "mh_prr_from_sums",
    "mh_prr_sums",
    "mh_ror",
    "mh_ror_fdr",
    "mh_ror_from_sums",
    "mh_ror_sums",
    "ror_fdr",
    "negative_log_likelihood",
    "posterior_cdf",
    "posterior_qn",
    "posterior_quantile",
    "report_level_counts",
    "shrinkage_ic",
    "select_maskers",
    "signal_flags",
    "squash_points",
    "stratified_expected",
    "wald_p_one_sided",
    "weibull_exact",
    "weibull_interval",
]
