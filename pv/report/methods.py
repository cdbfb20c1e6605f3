"""The methods note of the report and the GPS prior in words: prose only, the same for Markdown and HTML."""

from __future__ import annotations

from typing import Any

from pv.report.text import number
from pv.signals import EBGM_STATUS


def prior_sentence(prior: dict[str, Any]) -> str:
    """Whether the GPS prior converged, in words, and what that means for EBGM."""
    fitted_on = (
        f"the {prior['n_pairs']:,} observed ingredient × PT pairs of the default variant "
        f"({prior['role']} / {prior['comparator']} / {prior['duplicates']})"
    )
    if prior["status"] == "ok":
        gap = prior.get("log_likelihood_gap")
        runner = (
            f"; the runner-up optimum (α1 {number(prior['runner_up_alpha1'])}, β1 "
            f"{number(prior['runner_up_beta1'])}, α2 {number(prior['runner_up_alpha2'])}, β2 "
            f"{number(prior['runner_up_beta2'])}, P {number(prior['runner_up_p'])}) has a −log-likelihood "
            f"{number(gap)} higher"
            if gap is not None
            else "; no other optimum found"
        )
        return (
            f"GPS prior: fitted by maximum likelihood on {fitted_on} and converged "
            f"(α1 {number(prior['alpha1'])}, β1 {number(prior['beta1'])}, α2 {number(prior['alpha2'])}, "
            f"β2 {number(prior['beta2'])}, P {number(prior['p'])}; "
            f"{prior['n_agree']} of {prior['n_starts']} starts agree{runner}); "
            "used for every level, variant and quarter."
        )
    if prior["status"] == "too_few_pairs":
        return (
            f"GPS prior: not fitted ({EBGM_STATUS['too_few_pairs']}): EBGM, EB05 and EB95 are not reported "
            "and the EB05 ≥ 2 rule flags nothing."
        )
    return (
        f"GPS prior: the maximum-likelihood fit on {fitted_on} did NOT converge "
        f"({prior['reason']}; {prior['n_starts']} starts in {prior['attempts']} attempts). EBGM, EB05 and "
        "EB95 are therefore not reported (n/c) and the EB05 ≥ 2 rule flags nothing."
    )


def methods(prior: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs of the methods note, shared by the Markdown and the HTML."""
    return [
        (
            "Counting",
            "Report-level counting: a is the number of de-duplicated cases reporting both the drug and the "
            "event, and the other cells of the 2×2 table count cases the same way within the variant's "
            "population. A drug written on several DRUG rows, or two dermatomyositis terms in one report, "
            "count once. Cases are the versions kept by FDA's minimum de-duplication (deleted-case lists "
            "removed, the latest caseversion per caseid, FAERS over legacy AERS). The population N of a "
            "variant is the cases with at least one drug that counts as an exposure under the variant's role "
            "(a primary or secondary suspect for 'suspect', any role for 'any'; 'drug not administered' "
            "never) and at least one reaction term, within the comparator; cases without a drug or without "
            "an event are in no 2×2 table.",
        ),
        (
            "Variants",
            "role: suspect (primary or secondary suspect) or any role ('drug not administered' never "
            "counts); "
            "comparator: all cases, oncology (cases with some drug given for a cancer indication) or "
            "breast_cancer (some drug given for breast cancer); duplicates: without or with the flagged "
            "cross-case duplicates; drug level: ingredient or class. The default variant is suspect / all / "
            "without. dm_narrow is a subset of dm_broad.",
        ),
        (
            "Duplicates",
            "Besides FDA's minimum de-duplication, the same event sent by several reporters is flagged, not "
            "deleted: same event date, age, sex, reporter country, ingredient set and PT set (a missing "
            "field never matches), or the same manufacturer control number from the same sender. Groups "
            "are transitive and the copy FDA received last represents the group; 'without' drops the other "
            "members, 'with' keeps every flagged case.",
        ),
        (
            "Statistics and rules",
            "PRR with the log-method 95% CI; ROR with the Woolf 95% CI; shrinkage IC = "
            "log2((a+0.5)/(E+0.5)) with exact IC025–IC975; EBGM with EB05–EB95 that solve their quantile "
            "equation to 1e-10 (checked for every stored row before the database is published). Rules: "
            "Evans (PRR ≥ 2, Yates χ² ≥ 4, a ≥ 3), ROR025 > 1 with a ≥ 3, IC025 > 0, EB05 ≥ 2; a rule "
            "fires on finite evidence only, so a zero cell (PRR or ROR infinite, 0 or n/c = not "
            "computable) never signals. Every target drug in the data is shown for both dermatomyositis "
            "groups and every variant, with a = 0 when no case reports the event: a zero is a finding.",
        ),
        (
            "History",
            "Each quarter's statistics are those a quarterly run at that quarter would have computed: the "
            "latest version of each case published up to that quarter, the deleted-case lists published up "
            "to it, and the duplicates that run would have flagged; a follow-up published later never counts "
            "earlier. Every quarter uses today's GPS prior, so EBGM compares across quarters; the first "
            "quarter a rule flagged a pair follows from this history.",
        ),
        ("Prior", _prior_method(prior)),
        (
            "MedDRA",
            "No MedDRA distribution is included (it is licensed): reaction terms are matched on their PT "
            "text (case-, space-, hyphen- and apostrophe-insensitive, spelling variants and known renames "
            "applied) to the reviewed dm_narrow and dm_broad lists. Terms that are lowest-level terms rather "
            "than PTs are only mapped when a licensed MedDRA release is configured (PV_MEDDRA_DIR).",
        ),
        (
            "Reading the results",
            "Disproportionality is a screening statistic of spontaneous reports, not an incidence or a "
            "causal estimate: reporting is voluntary, influenced by publicity and indication, and has no "
            "denominator of exposed patients. A signal is a prompt for case review (pv cases).",
        ),
    ]


def _prior_method(prior: dict[str, Any] | None) -> str:
    common = (
        "One GPS (gamma-Poisson shrinkage) prior, DuMouchel's two-gamma mixture with openEBGM's "
        "per-component truncated likelihood (N* = 1), is fitted once on the base level (ingredient × PT, "
        "default variant), as Empirica and openEBGM do, from many starting points, and used for every drug "
        "and event level, variant and quarter, so EBGM values compare. A prior that does not converge is "
        "never used. "
    )
    return common + (prior_sentence(prior) if prior else "No prior is stored.")
