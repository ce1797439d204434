"""Honest AUC intervals and single-class slices in the report (issue 20): intervals stay within
[0, 1] (TFMA's jackknife half-width on the logit scale), and a slice with one class shows "n/a",
not TFMA's 0.0000. Unit-level: hand-made metrics, no pipeline run."""
import html.parser
import math

import pytest
from scipy.special import expit, logit

from pipeline.reporting.html import SPLIT_ROLES, SliceRow, render_html
from pipeline.reporting.metrics import Metric, honest_auc, logit_interval
from pipeline.reporting.summary import RunReport


@pytest.mark.parametrize("value, lower, upper", [
    (0.3938, -0.0796, 0.8692),  # the small slice: TFMA's interval leaves [0, 1]
    (0.5004, -0.8283, 1.8324),
    (0.97, 0.90, 1.04),
])
def test_interval_is_the_jackknife_half_width_on_the_logit_scale(value, lower, upper):
    low, high = logit_interval(value, lower, upper)
    half = (upper - lower) / 2 / (value * (1 - value))  # delta method: d logit(p) = dp / p(1-p)
    assert low == pytest.approx(expit(logit(value) - half), abs=1e-12)
    assert high == pytest.approx(expit(logit(value) + half), abs=1e-12)
    assert 0.0 < low < value < high < 1.0


def test_a_narrow_interval_near_one_half_keeps_tfmas_width():
    low, high = logit_interval(0.5, 0.49, 0.51)
    assert (low, high) == pytest.approx((0.49, 0.51), abs=1e-5)


def test_single_class_slices_have_no_auc():
    # TFMA's values for a slice without positives: AUC 0 with an interval
    for mean_label in (0.0, 1.0):
        metrics = honest_auc({"auc": Metric(0.0, -0.1, 0.1), "mean_label": Metric(mean_label),
                              "example_count": Metric(12)})
        assert metrics["auc"].undefined and not metrics["auc"].has_interval
        assert metrics["example_count"].value == 12
    mixed = honest_auc({"auc": Metric(0.3938, -0.0796, 0.8692), "mean_label": Metric(0.25)})
    assert (mixed["auc"].lower, mixed["auc"].upper) == pytest.approx(
        logit_interval(0.3938, -0.0796, 0.8692), abs=1e-12)
    assert honest_auc({"auc": Metric(0.7), "mean_label": Metric(0.1)})["auc"] == Metric(0.7)


class _CellParser(html.parser.HTMLParser):
    """The text of every slice table's AUC and interval cells, by slice value."""

    def __init__(self):
        super().__init__()
        self.rows, self._slice, self._cell = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-slice" in attrs:
            self._slice = attrs["data-slice"]
            self.rows[self._slice] = {}
        elif tag == "td" and self._slice is not None and attrs.get("class") in ("auc", "ci"):
            self._cell = attrs["class"]
            self.rows[self._slice][self._cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._slice = None

    def handle_data(self, data):
        if self._cell is not None:
            self.rows[self._slice][self._cell] += data


def test_report_shows_n_a_and_bounded_intervals():
    rows = [SliceRow("no-positives", honest_auc({"auc": Metric(0.0, -0.2, 0.2),
                                                 "mean_label": Metric(0.0),
                                                 "example_count": Metric(9)}), True, False),
            SliceRow("small", honest_auc({"auc": Metric(0.3938, -0.0796, 0.8692),
                                          "mean_label": Metric(0.3),
                                          "example_count": Metric(20)}), True, False)]
    run = RunReport(pipeline_name="p", run_id="run-1", components=[], overall={}, slices=[],
                    blessed=None, pushed_model=None, evaluation_uri=None, model_uri=None,
                    training={})
    page = render_html({
        "run": run, "root": "/tmp/root", "has_baseline": False, "intervals": True,
        "tasks": [{"output": "label", "headline": [], "thresholds": [], "calibration_plot": None,
                   "curves_plot": None, "slices": [{"feature": "C6", "rows": rows,
                                                    "top_values": None, "plot": None}]}],
        "blessed": None, "validation_ok": None, "failures": [],
        "data": {"splits": [(name, 10, SPLIT_ROLES[name]) for name in SPLIT_ROLES],
                 "anomalies": [], "features": []}, "lineage": [], "spec": {},
        "spec_json": "{}", "model": "DeepFM", "model_args": {}, "training": {},
        "training_config": {}, "pushed_version": None, "leaderboard": None, "small_slice": 50,
        "generated": "2026-12-07 10:00"})
    parser = _CellParser()
    parser.feed(page)
    assert parser.rows["no-positives"] == {"auc": "n/a", "ci": ""}
    low, high = logit_interval(0.3938, -0.0796, 0.8692)
    assert parser.rows["small"] == {"auc": "0.3938", "ci": f"{low:.4f} – {high:.4f}"}
    assert "metric (test split, overall)" in page
    assert "<td class=\"l\">test</td><td>10</td><td class=\"l\">the evaluation: metrics, " \
           "blessing, this report</td>" in page


def test_console_summary_names_the_test_split_and_says_n_a():
    report = RunReport(pipeline_name="p", run_id="run-1", components=[],
                       overall={"auc": math.nan, "example_count": 30.0}, slices=[],
                       blessed=False, pushed_model=None, evaluation_uri=None, model_uri=None,
                       training={})
    text = report.format()
    assert "Evaluation (test split):" in text
    assert "auc=n/a  example_count=30" in text
