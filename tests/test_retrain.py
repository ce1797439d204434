"""Scheduled retraining over arriving spans, end to end (three small pipeline runs, shared).

Root A sees spans arrive one by one: span 1 trains cold and pushes v1; span 2 (drifted) is
warm-started from v1 with a third of the steps and pushes v2; span 3 has shuffled labels and
arrives through the CLI (`python -m pipeline retrain`, as cron runs it): it passes the drift gate,
is evaluated, not blessed, not pushed, and v2 stays the newest version. The cold reference for span 2
is the Trainer's run_fn with the full steps on the warm run's own Transform output (no second
pipeline run): the warm model must score at least its AUC on the same test split (the
Evaluator's; neither model's training decisions saw it). The drift gate passes spans 2 and 3
(they drift by `DRIFT` each, under the spec's default thresholds) and records their distances
from the span before. Then, through the CLI on a copy of A's store, a small span 4 shifted far
from span 3 is refused before Transform (exit status 5), naming the shifted features (the
refusal costs ExampleGen and StatisticsGen on ~1,000 rows, no training). The spans run in a
process of their own beside the other tests (tests/background_runs.py)."""
import argparse
import os
import pathlib
import shutil

import pytest

from data.generators import write_criteo_span
from pipeline.lock import RootLocked, root_lock
from pipeline.retrain import add_retrain_args, retrain, retrain_options
from pipeline.reporting.runs import format_runs, list_runs
from background_runs import in_a_subprocess, register as register_background_run
from cli_testing import run_cli
from pipeline_testing import newest_artifact, run_fn_on_transform, serving_auc

pytestmark = pytest.mark.pipeline

# Per span: ~5,400 train rows (~21 batches of 256) and ~600 eval rows, so that a model without
# signal (shuffled labels, AUC ~0.5 +- 0.025) cannot pass the spec's 0.6 AUC gate by chance.
ROWS = 6000
COLD_STEPS, WARM_STEPS = 60, 20
DRIFT = 0.3
# span 4 (for the refusal): few rows, category frequencies shifted by 4 * 1.0 instead of 4 * DRIFT
SHIFTED_ROWS, SHIFTED_DRIFT = 1000, 1.0


def _argv(root, data, steps, *extra):
    """retrain's command-line arguments for the spans (the CLI's and `_args`' alike)."""
    return ["--root", str(root), "--data", str(data), "--dataset", "criteo",
            "--train-steps", str(steps), "--eval-steps", "2", "--batch-size", "256",
            "--learning-rate", "3e-3", "--beam-mode", "in_memory",
            "--model-arg", "dnn_hidden_units=(64,32)", "--model-arg", "l2_reg_embedding=1e-3",
            *extra]


def _args(root, data, steps, *extra):
    parser = argparse.ArgumentParser()
    add_retrain_args(parser)
    return retrain_options(parser.parse_args(_argv(root, data, steps, *extra)))


def _cold_reference(root, out_dir, warm):
    """Span 2 trained from scratch with the cold steps and the same arguments as the runs, on the
    warm run's Transform output; both models scored by their serving signature on span 2's test
    split (ExampleGen's hash split of the span file)."""
    from components.dataset_spec import load_spec
    from pipeline.pipeline import TrainingConfig
    pipeline_root = str(root / "pipeline_root")
    given = _args(root, "unused", COLD_STEPS).run.training
    training = TrainingConfig(model=given.model, model_args=given.model_args,
                              batch_size=given.batch_size, learning_rate=given.learning_rate)
    summary = run_fn_on_transform(load_spec("criteo"), pipeline_root, out_dir, training,
                                  COLD_STEPS, eval_steps=2)
    raw_examples = newest_artifact(pipeline_root, "CsvExampleGen", "examples")
    cold_auc, rows = serving_auc(str(out_dir / "serving"), raw_examples)
    warm_auc, _ = serving_auc(warm.report.pushed_model, raw_examples)
    return dict(steps=summary["train_steps"], auc=cold_auc, warm_auc=warm_auc, rows=rows)


def run_spans(base):
    """Spans 1-3 arriving one by one in root A, and the cold reference for span 2 -> a dict of
    their results (RetrainResult objects, the serving folders after each span)."""
    base = pathlib.Path(base)
    data, root = base / "data", base / "A"
    quiet = lambda *a: None  # noqa: E731
    write_criteo_span(str(data), 1, ROWS, seed=5, drift=DRIFT)
    first = retrain(_args(root, data, COLD_STEPS), quiet)
    after_first = sorted(os.listdir(root / "serving"))
    write_criteo_span(str(data), 2, ROWS, seed=5, drift=DRIFT)
    warm = retrain(_args(root, data, WARM_STEPS, "--warm-start"), quiet)
    after_second = sorted(os.listdir(root / "serving"))
    cold = _cold_reference(root, base / "cold", warm)
    write_criteo_span(str(data), 3, ROWS, seed=5, drift=DRIFT, shuffle_labels=True)
    # span 3 through the CLI, as cron runs it: its drift gate passes (an unshifted span), its
    # model is evaluated; its report is read back from the root's store
    status, output = run_cli("retrain", *_argv(root, data, WARM_STEPS))
    broken = dict(status=status, output=output, report=list_runs(str(root))[0].report)
    after_third = sorted(os.listdir(root / "serving"))
    # the shifted span 4 through the CLI, in a copy of A's store (A's own history stays as it is)
    shifted_root, shifted_data = base / "shifted", base / "shifted_data"
    shifted_root.mkdir()
    shutil.copy(root / "metadata.sqlite", shifted_root / "metadata.sqlite")
    shutil.copytree(data / "span-3", shifted_data / "span-3")
    write_criteo_span(str(shifted_data), 4, SHIFTED_ROWS, seed=5, drift=SHIFTED_DRIFT)
    status, output = run_cli("retrain", "--root", str(shifted_root), "--data", str(shifted_data),
                             "--dataset", "criteo", "--train-steps", "2", "--batch-size", "64",
                             "--beam-mode", "in_memory")
    return dict(root=root, data=data, first=first, warm=warm, cold=cold, broken=broken,
                after_first=after_first, after_second=after_second, after_third=after_third,
                shifted=dict(root=shifted_root, data=shifted_data, status=status,
                             output=output))


# in a process of its own beside the other tests (tests/background_runs.py)
register_background_run("spans_run", in_a_subprocess(run_spans))


@pytest.fixture(scope="module")
def spans_run(background):
    return background.result("spans_run")


def test_span_1_trains_and_pushes_v1(spans_run):
    first = spans_run["first"]
    assert first.spans == [1] and first.report.spans == [1]
    assert first.report.blessed is True
    assert spans_run["after_first"] == [first.pushed_version]
    assert "Data spans: 1" in first.report.format()
    assert first.warm_start is None
    # the version records how its inputs encoded a missing category (components/transform.py)
    assert first.report.training["missing_category"] == "own_id"


def test_span_2_warm_starts_from_v1_and_pushes_v2(spans_run):
    first, warm = spans_run["first"], spans_run["warm"]
    assert warm.spans == [2]
    assert warm.warm_start["warm_started"] is True, warm.warm_start
    assert warm.warm_start["source"] == first.pushed_version
    tokens = warm.warm_start["tokens"]["ids"]
    # the vocabulary was recomputed on the drifted span: shared tokens kept their rows, new ones
    # started fresh
    assert tokens["kept"] > 0 and tokens["new"] > 0
    assert warm.report.blessed is True
    assert spans_run["after_second"] == sorted([first.pushed_version, warm.pushed_version])
    assert warm.pushed_version > first.pushed_version
    # a new span is new data: ExampleGen and everything after it ran again
    assert "CsvExampleGen" not in warm.cached and "Transform" not in warm.cached


def test_warm_start_reaches_the_cold_auc_in_fewer_steps(spans_run):
    warm, cold = spans_run["warm"], spans_run["cold"]
    assert warm.report.training["train_steps"] < cold["steps"] == COLD_STEPS
    assert cold["rows"] == warm.report.overall["example_count"]  # the Evaluator's eval rows
    assert cold["warm_auc"] == pytest.approx(warm.report.overall["auc"], abs=0.005)
    assert cold["warm_auc"] >= cold["auc"], cold


def test_shuffled_span_3_is_evaluated_not_blessed_not_pushed(spans_run):
    broken, warm = spans_run["broken"], spans_run["warm"]
    report = broken["report"]
    assert broken["status"] == 0, broken["output"]  # a model not blessed is not a failed run
    assert report.spans == [3]
    assert report.overall["auc"] < 0.6  # evaluated: labels carry no signal
    assert report.blessed is False
    assert report.pushed_model is None
    assert any("auc" in f.lower() for f in report.failures), report.failures
    assert spans_run["after_third"] == spans_run["after_second"]
    assert max(spans_run["after_third"]) == warm.pushed_version
    assert "Retrained on span(s) 3 in " in broken["output"]
    assert "pushed version: none" in broken["output"]


def _drift_rows(report):
    return {row["feature"]: row for row in report.drift["drift"]}


def test_the_drift_gate_passes_spans_drifting_by_the_test_drift(spans_run):
    from components.dataset_spec import load_spec
    from components.drift import compared_features
    first, warm, broken = spans_run["first"], spans_run["warm"], spans_run["broken"]
    spec = load_spec("criteo")
    assert first.report.drift["baseline"] is None  # a root's first run: nothing to compare
    assert "Drift: not checked" in first.report.format()
    # span 2 through retrain() in-process, span 3 through the CLI
    for report, previous in ((warm.report, first), (broken["report"], warm)):
        drift = report.drift
        assert drift["baseline"]["run_id"] == previous.report.run_id
        assert drift["baseline"]["span"] == previous.spans[-1]
        rows = _drift_rows(report)
        # every feature compared: text columns by L-infinity, the numeric ones by JS
        assert sorted(rows) == sorted(compared_features(spec))
        assert {rows[f.name]["comparator"] for f in spec.sparse} == {"categorical_linf"}
        assert {rows[f.name]["comparator"] for f in spec.dense} == {"numeric_js"}
        assert drift["drifted"] == [] and not any(r["exceeded"] for r in rows.values())
        assert {r["threshold"] for r in rows.values()} == {spec.drift.categorical_linf,
                                                           spec.drift.numeric_js}
        # the planted drift moved category shares (L-infinity 0.05-0.2), not by chance alone
        assert 0.05 < max(rows[f.name]["distance"] for f in spec.sparse) < 0.2
        assert f"Drift from span {previous.spans[-1]}" in report.format()
        assert len(drift["skew"]) == len(rows)  # train vs test, recorded


def _reference_linf(data, span_a, span_b, column):
    """L-infinity between the value shares of `column` in two span files (all rows)."""
    from data.generators import read_criteo, span_path
    a = read_criteo(span_path(str(data), span_a))[column].astype(str).value_counts(normalize=True)
    b = read_criteo(span_path(str(data), span_b))[column].astype(str).value_counts(normalize=True)
    values = a.index.union(b.index)
    return float((a.reindex(values, fill_value=0) - b.reindex(values, fill_value=0)).abs().max())


def test_the_cli_refuses_a_shifted_span_before_transform_naming_the_features(spans_run):
    import re
    from components.dataset_spec import load_spec
    from pipeline.reporting.summary import read_run
    shifted = spans_run["shifted"]
    output = shifted["output"]
    assert shifted["status"] == 5, output
    refusal = next(line for line in output.splitlines() if line.startswith("DRIFT in "))
    assert refusal.startswith("DRIFT in DriftCheck: the new data drifted from span 3 (run "
                              f"{spans_run['broken']['report'].run_id})"), refusal
    assert "--allow-drift" in refusal
    named = {m.group(1): float(m.group(2))
             for m in re.finditer(r"(C\d+) L-infinity (\d\.\d+) > 0\.3", refusal)}
    reference = {f.name: _reference_linf(shifted["data"], 3, 4, f.name)
                 for f in load_spec("criteo").sparse}
    # a feature shifted well beyond the threshold is named, with about its distance (TFDV
    # measures the train splits, the reference every row: 0.05 covers the difference)
    far = {name for name, distance in reference.items() if distance > 0.45}
    assert far and far <= set(named), (sorted(reference.items()), refusal)
    for name in far:
        assert named[name] == pytest.approx(reference[name], abs=0.05), name
    # stopped before Transform: nothing trained, nothing pushed
    report = read_run(str(shifted["root"] / "metadata.sqlite"), "ctr_criteo")
    states = {c.node_id: c.state for c in report.components}
    assert states["DriftCheck"] == "FAILED", report.format()
    assert not set(states) & {"Transform", "Trainer", "Evaluator", "Pusher"}, report.format()
    assert not (shifted["root"] / "serving").exists()


def test_run_history_lists_the_spans(spans_run):
    entries = list_runs(str(spans_run["root"]))
    assert [e.report.spans for e in entries] == [[3], [2], [1]]
    lines = format_runs(entries).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[header.index("spans")] for row in rows] == ["3", "2", "1"]
    assert [e.pushed_version for e in entries] == [None, spans_run["warm"].pushed_version,
                                                  spans_run["first"].pushed_version]


def test_a_rerun_without_a_new_span_does_nothing(spans_run):
    root, data = spans_run["root"], spans_run["data"]
    runs_before = len(list_runs(str(root)))
    said = []
    result = retrain(_args(root, data, WARM_STEPS, "--warm-start"), said.append)
    assert result.skipped and result.spans == [3]
    assert said and said[-1].startswith("Nothing to do: span(s) 3 already trained")
    assert len(list_runs(str(root))) == runs_before
    assert sorted(os.listdir(root / "serving")) == spans_run["after_third"]


@pytest.fixture
def span_root(tmp_path):
    """A root and a folder holding one span, for the lock tests (no pipeline runs)."""
    write_criteo_span(str(tmp_path / "data"), 1, 50, seed=5)
    return tmp_path / "root", tmp_path / "data"


def test_the_lock_refuses_a_concurrent_retrain(span_root):
    root, data = span_root
    said = []
    with root_lock(str(root), command="test holder"):
        with pytest.raises(RootLocked) as refused:
            retrain(_args(root, data, WARM_STEPS), said.append)
    message = str(refused.value.code)
    assert f"pid {os.getpid()}" in message and "test holder" in message
    assert "nothing done" in message and str(root) in message
    assert said == []  # refused before looking at the data
    assert sorted(os.listdir(root)) == [".lock"]  # no store, no logs, no artefacts
    with root_lock(str(root), command="next run"):  # released: the next run gets it
        pass


def test_the_cli_exits_at_once_naming_the_holder(span_root, capsys):
    from pipeline.cli import main
    root, data = span_root
    with root_lock(str(root), command="nightly retrain"):
        status = main(["retrain", "--root", str(root), "--data", str(data)])
        run_status = main(["run", "--root", str(root), "--data", str(data)])
    assert status == 3 and run_status == 3
    err = capsys.readouterr().err
    assert "in use by another run" in err and "nightly retrain" in err
    assert sorted(os.listdir(root)) == [".lock"]


