"""The HTML report of the shared end-to-end run: every slice, TFMA's numbers, self-contained,
and it renders in headless Chromium."""
import html.parser
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.pipeline

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _ReportParser(html.parser.HTMLParser):
    """Collects slice tables (feature -> {slice value: {column class: text}}), headline cells,
    embedded SVGs and any tag that would load something from elsewhere."""

    def __init__(self):
        super().__init__()
        self.slices, self.svgs, self.external, self.text = {}, 0, [], []
        self._feature = self._slice = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svgs += 1
        if tag in ("img", "script", "link", "iframe") or (
                tag != "a" and any(str(v).startswith(("http:", "https:", "//"))
                                   for k, v in attrs.items() if k in ("src", "href"))):
            self.external.append((tag, attrs))
        if tag == "table" and "data-feature" in attrs:
            self._feature = attrs["data-feature"]
            self.slices[self._feature] = {}
        elif tag == "tr" and self._feature and "data-slice" in attrs:
            self._slice = attrs["data-slice"]
            self.slices[self._feature][self._slice] = {"cells": []}
        elif tag == "td" and self._slice is not None:
            self._cell = attrs.get("class") or ""
            self.slices[self._feature][self._slice]["cells"].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._feature = None
        elif tag == "tr":
            self._slice = None

    def handle_data(self, data):
        self.text.append(data)
        if self._slice is not None and self._cell is not None:
            row = self.slices[self._feature][self._slice]
            row["cells"][-1] += data.strip()
            if self._cell == "auc":
                row["auc"] = row.get("auc", "") + data.strip()


@pytest.fixture(scope="module")
def written_report(e2e_run, tmp_path_factory):
    from pipeline.reporting.html import write_report
    _, _, paths, report = e2e_run
    out = str(tmp_path_factory.mktemp("report") / "report.html")
    assert write_report(paths.root, report.run_id, out) == out
    with open(out) as f:
        text = f.read()
    parser = _ReportParser()
    parser.feed(text)
    return e2e_run, out, text, parser


def _tfma_slices(evaluation_uri):
    """{feature: {value: metrics}} straight from TFMA's loader."""
    import tensorflow_model_analysis as tfma
    out = {}
    for key, by_output in tfma.load_eval_result(evaluation_uri).slicing_metrics:
        if not key:
            continue
        ((feature, value),) = key
        metrics = by_output[""][""]
        out.setdefault(feature, {})[str(value)] = {
            name: float(v["boundedValue"]["value"] if "boundedValue" in v else v["doubleValue"])
            for name, v in metrics.items() if "boundedValue" in v or "doubleValue" in v}
    return out


def test_every_slice_of_every_spec_feature_with_tfma_numbers(written_report):
    (spec, _, _, report), _, _, parser = written_report
    expected = _tfma_slices(report.evaluation_uri)
    assert sorted(parser.slices) == sorted(spec.evaluation.slices) == sorted(expected)
    for feature, values in expected.items():
        assert set(parser.slices[feature]) == set(values), feature
        for value, metrics in values.items():
            row = parser.slices[feature][value]
            assert row["auc"] == f"{metrics['auc']:.4f}", (feature, value)
            assert row["cells"][1] == f"{int(metrics['example_count']):,}"
    # small slices are flagged, and the worst AUC comes first
    aucs = [float(r["auc"]) for r in parser.slices["C9"].values() if r["auc"] not in ("", "–")]
    assert aucs == sorted(aucs)


def test_headline_verdict_data_and_lineage(written_report):
    (_, _, paths, report), _, text, parser = written_report
    assert f"{report.overall['auc']:.4f}" in text
    assert "Blessed" in text and os.path.basename(report.pushed_model) in text
    assert "AUC ≥ 0.6" in text  # the threshold that decided it
    import tensorflow_data_validation as tfdv
    import glob
    for path in glob.glob(os.path.join(paths.pipeline_root, "StatisticsGen", "statistics", "*",
                                       "Split-*", "FeatureStats.pb")):
        rows = tfdv.load_stats_binary(path).datasets[0].num_examples
        assert f"{rows:,}" in text
    for node in ("CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert node in text
    assert "DeepFM" in text


def test_report_is_self_contained_with_plots(written_report):
    (spec, _, _, _), _, _, parser = written_report
    assert parser.external == []
    # ROC/PR, calibration, and one AUC-by-slice plot per slice feature
    assert parser.svgs >= 2 + len(spec.evaluation.slices)


@pytest.fixture(scope="session")
def chromium():
    """The chromium binary. CI installs it before the suite (`make test`'s test-browser step), so
    there a missing one fails the test; elsewhere the test skips without it."""
    path = shutil.which("chromium")
    if path is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not on PATH under CI=true: `make test` installs it (its "
                    "test-browser step: apt-get install chromium); see that step's output")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium; under CI=true, "
                    "`make test` installs it)")
    return path


def test_report_renders_in_headless_chromium(written_report, chromium, tmp_path):
    from PIL import Image
    _, out, _, _ = written_report
    png = tmp_path / "report.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
                    f"--screenshot={png}", f"file://{out}"],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 2400)
    pixels = list(image.getdata())
    non_white = sum(1 for p in pixels if sum(p) < 720) / len(pixels)
    assert non_white > 0.03, non_white
    # the plots' blue (#2c6fbb) is on the page: the inline SVGs rendered
    assert sum(1 for r, g, b in pixels if abs(r - 44) < 30 and abs(g - 111) < 30
               and abs(b - 187) < 30) > 200
