"""What a quarterly run tells its user: a Markdown and a self-contained HTML report, plus plain facts.

The report answers three questions in order: did the run load what it should (quarters, rows, rejects,
repairs, de-duplication), what do the dermatomyositis statistics say for taxanes and anti-HER2 agents
across every analysis variant, and what changed this quarter. Everything is read from the database
(read-only), so a report can be regenerated at any time from the same database and gives the same result.

* :mod:`pv.report.facts`: every query (the only SQL of the report) -> plain values and headline frames;
* :mod:`pv.report.text`: numbers and table cells as printed;
* :mod:`pv.report.figures`: the forest plot and IC over time (matplotlib, no pyplot);
* :mod:`pv.report.methods`: the methods note and the GPS prior in words;
* :mod:`pv.report.render`: one Jinja2 document template (``templates/``) rendered as Markdown and HTML.
"""

from pv.report.answer import CAVEATS, Answer, answer_bullets, answer_text, answers
from pv.report.facts import (
    headline_frame,
    headline_records,
    history_frame,
    new_or_changed,
    prior_facts,
    report_facts,
    summary,
)
from pv.report.figures import (
    DPI,
    FOREST_FILE,
    FOREST_WIDTH_IN,
    IC_FIGSIZE_IN,
    IC_FILE,
    forest_plot,
    ic_over_time_plot,
    not_computable,
)
from pv.report.methods import prior_sentence
from pv.report.render import markdown_summary, run_report_command, write_report

__all__ = [
    "CAVEATS",
    "Answer",
    "answer_bullets",
    "answer_text",
    "answers",
    "DPI",
    "FOREST_FILE",
    "FOREST_WIDTH_IN",
    "IC_FIGSIZE_IN",
    "IC_FILE",
    "forest_plot",
    "headline_frame",
    "headline_records",
    "history_frame",
    "ic_over_time_plot",
    "markdown_summary",
    "new_or_changed",
    "not_computable",
    "prior_facts",
    "prior_sentence",
    "report_facts",
    "run_report_command",
    "summary",
    "write_report",
]
