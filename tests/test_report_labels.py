"""Any slice value or column name renders in the report as itself: escaped in the HTML, literal
(not TeX mathtext) and cut short when absurdly long in the plots. Unit-level: the report's plot
and HTML pieces are built from hand-made slices, without a pipeline run."""
import html.parser
import xml.etree.ElementTree as ElementTree

import pytest

from pipeline.reporting.html import (MAX_PLOT_LABEL_CHARS, SliceRow, plot_slice_auc,
                                     render_html)
from pipeline.reporting.metrics import Metric
from pipeline.reporting.summary import RunReport

LONG_VALUE = "x" * 9_990 + "long-value"
HOSTILE_VALUES = ["<script>alert(1)</script>", "say \"hi\" & 'bye'", "$$", "$a_b$", "50% off",
                  "café 東京", LONG_VALUE]
HOSTILE_FEATURE = "<b>col</b> $x^2$ 100% \"q\""
SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def _rows():
    return [SliceRow(value, {"auc": Metric(0.5 + 0.05 * i, 0.4 + 0.05 * i, 0.6 + 0.05 * i),
                             "example_count": Metric(1000 - i)}, small=False, below_overall=False)
            for i, value in enumerate(HOSTILE_VALUES)]


def _plot_label(text):
    """What a label may look like in a plot: itself, or its head and an ellipsis."""
    if len(text) <= MAX_PLOT_LABEL_CHARS:
        return text
    return text[:MAX_PLOT_LABEL_CHARS - 1] + "…"


def _svg_texts(svg):
    return ["".join(element.itertext()) for element in ElementTree.fromstring(svg).iter(SVG_TEXT)]


@pytest.fixture(scope="module")
def slice_plot():
    return plot_slice_auc(HOSTILE_FEATURE, _rows(), Metric(0.7))


def test_plot_shows_every_value_literally_and_long_ones_cut(slice_plot):
    texts = _svg_texts(slice_plot)
    for i, value in enumerate(HOSTILE_VALUES):
        assert f"{_plot_label(value)} (n={1000 - i})" in texts, value
    assert f"AUC by {HOSTILE_FEATURE} (largest {len(HOSTILE_VALUES)} slices)" in texts
    assert _plot_label(LONG_VALUE).endswith("…") and len(_plot_label(LONG_VALUE)) < 100
    assert "<script" not in slice_plot


def test_a_long_feature_name_is_cut_in_the_plot_title():
    plot = plot_slice_auc("f" * 10_000, _rows()[:1], None)
    assert f"AUC by {_plot_label('f' * 10_000)} (largest 1 slices)" in _svg_texts(plot)


class _SliceTableParser(html.parser.HTMLParser):
    """Feature names and slice values as a browser reads them back from the report."""

    def __init__(self):
        super().__init__()
        self.features, self.slices, self.cells, self.tags = [], [], [], []
        self._in_slice_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table" and "data-feature" in attrs:
            self.features.append(attrs["data-feature"])
        if tag == "tr" and "data-slice" in attrs:
            self.slices.append(attrs["data-slice"])
            self._in_slice_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_slice_cell = False

    def handle_data(self, data):
        if self._in_slice_cell:
            self.cells[-1] += data


def _context(slice_plot):
    run = RunReport(pipeline_name="criteo <i>", run_id="run-1", components=[], overall={},
                    slices=[], blessed=None, pushed_model=None, evaluation_uri=None,
                    model_uri=None, training={})
    table = {"feature": HOSTILE_FEATURE, "rows": _rows(), "top_values": None, "plot": slice_plot}
    return {"run": run, "root": "/tmp/root", "has_baseline": False, "intervals": True,
            "tasks": [{"output": "click", "headline": [], "slices": [table], "thresholds": [],
                       "calibration_plot": None, "curves_plot": None}],
            "blessed": None, "validation_ok": None, "failures": [],
            "data": {"splits": [], "anomalies": [("train", HOSTILE_FEATURE, "ERROR", "<b>x</b>")],
                     "features": [{"name": HOSTILE_FEATURE, "type": "STRING", "missing": 0.0,
                                   "unique": 7, "summary": ", ".join(HOSTILE_VALUES[:4])}],
                     "anomalies_checked": True},
            "lineage": [], "spec": {}, "spec_json": "{}", "model": "DeepFM", "model_args": {},
            "training": {}, "training_config": {}, "pushed_version": None, "leaderboard": None,
            "small_slice": 50, "generated": "2026-12-07 10:00"}


def test_html_escapes_every_value_and_keeps_long_ones_whole(slice_plot, tmp_path):
    page = render_html(_context(slice_plot))
    out = tmp_path / "report.html"
    out.write_text(page, encoding="utf-8")
    assert out.stat().st_size > 0

    assert "<script" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;col&lt;/b&gt;" in page
    parser = _SliceTableParser()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert parser.features == [HOSTILE_FEATURE]
    assert sorted(parser.slices) == sorted(HOSTILE_VALUES)  # the long value whole, not cut
    assert sorted(cell.strip() for cell in parser.cells) == sorted(HOSTILE_VALUES)
    assert "café 東京" in page and "$a_b$" in page and "50% off" in page
