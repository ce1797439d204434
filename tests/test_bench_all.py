"""`make bench` (benchmarks/run_all.py) writes each benchmark's output between its markers in
BENCHMARKS.md."""
import pytest

from benchmarks import run_all


def test_a_block_is_replaced_in_place_and_the_text_around_it_kept():
    document = ("# Benchmarks\n\nintro\n\n## Serving\n\nwhy it matters\n\n"
                "<!-- make bench: serving -->\nold figures\n<!-- end make bench: serving -->\n\n"
                "after\n")
    updated = run_all.replace_block(document, "serving", "| p50 | 1.2 ms |\n", "Serving")
    assert updated == document.replace("old figures", "| p50 | 1.2 ms |")
    # running it again is stable
    assert run_all.replace_block(updated, "serving", "| p50 | 1.2 ms |", "Serving") == updated


def test_a_new_block_is_appended_under_its_heading():
    updated = run_all.replace_block("# Benchmarks\n\ntext\n", "startup", "figures", "Start-up")
    assert updated == ("# Benchmarks\n\ntext\n\n## Start-up (`make bench`)\n\n"
                       "<!-- make bench: startup -->\nfigures\n<!-- end make bench: startup -->\n")


def test_only_the_named_block_changes_when_several_exist():
    document = "".join(f"<!-- make bench: {n} -->\n{n} old\n<!-- end make bench: {n} -->\n"
                       for n in ("a", "b"))
    updated = run_all.replace_block(document, "b", "b new", "B")
    assert "a old" in updated and "b new" in updated and "b old" not in updated


def test_serving_and_evaluator_measure_the_scale_run_root_when_there_is_one():
    # the scale run is make demo's: its 100k rows, seed 0, with the components goal
    assert run_all.benchmark_args("scale", "/w", None) == [
        "--rows", "100000", "--seed", "0", "--out", "/w/scale", "--goal-components", "120"]
    assert run_all.benchmark_args("serving", "/w", "/w/scale/root") == ["--root", "/w/scale/root"]
    assert run_all.benchmark_args("serving", "/w", None) == []  # makes its own demo run
    assert run_all.benchmark_args("evaluator", "/w", None) is None  # skipped
    assert run_all.benchmark_args("evaluator", "/w", "/r")[:2] == ["--root", "/r"]
    order = list(run_all.BENCHMARKS)
    assert order.index("scale") < order.index("serving") < order.index("evaluator")
    assert run_all.benchmark_args("epochs", "/w", "/r") == ["--root", "/r"]
    assert run_all.benchmark_args("epochs", "/w", None) is None


def test_every_benchmark_module_exists_and_unknown_names_are_refused():
    import importlib.util
    for module, _, _ in run_all.BENCHMARKS.values():
        assert importlib.util.find_spec(module) is not None, module
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nope"])


def test_a_failing_benchmark_keeps_the_previous_block(tmp_path, monkeypatch):
    output = tmp_path / "B.md"
    output.write_text("<!-- make bench: serving -->\nkept\n<!-- end make bench: serving -->\n")
    monkeypatch.setitem(run_all.BENCHMARKS, "serving",
                        ("pipeline.no_such_benchmark_module", [], "Serving"))
    assert run_all.main(["--only", "serving", "--output", str(output)]) == 1
    assert "kept" in output.read_text()


def test_a_run_writes_each_block_and_gives_serving_the_scale_root(tmp_path, monkeypatch):
    output = tmp_path / "B.md"
    output.write_text("# Benchmarks\n")
    calls = []

    def fake_run(name, args):
        calls.append((name, args))
        return True, f"{name} figures"

    monkeypatch.setattr(run_all, "run_benchmark", fake_run)
    assert run_all.main(["--only", "serving,scale", "--output", str(output)]) == 0
    assert [name for name, _ in calls] == ["scale", "serving"]  # running order, not --only's
    scale_out = calls[0][1][calls[0][1].index("--out") + 1]
    assert calls[1][1] == ["--root", f"{scale_out}/root"]
    text = output.read_text()
    assert "scale figures" in text and "serving figures" in text


def test_a_benchmarks_own_headings_are_nested_below_its_section():
    updated = run_all.replace_block("# B\n", "serving", "## Serving (goal 6)\ntext\n### detail",
                                      "Serving")
    assert "\n#### Serving (goal 6)\ntext\n##### detail\n" in updated
    assert updated.count("\n## ") == 1  # only the section's own heading


def test_the_deepctr_reference_is_imported_without_asking_pypi():
    """deepctr's own import calls pypi.org from a thread (and prints when that fails); ours must
    not. With requests.get failing, a plain import prints deepctr's message, ours does not."""
    import subprocess
    import sys
    pytest.importorskip("deepctr")
    probe = ("import requests, threading, time\n"
             "def refuse(*a, **k): raise OSError('network call')\n"
             "requests.get = refuse\n"
             "{}\n"
             "[t.join() for t in threading.enumerate() if t is not threading.main_thread()]\n"
             "import deepctr.models, deepctr.feature_column\n")
    ours = probe.format("from benchmarks.deepctr_reference import import_deepctr; import_deepctr()")
    plain = probe.format("import deepctr")
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1", "PATH": "/usr/bin:/bin"}
    out = {name: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=env, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
           for name, code in (("ours", ours), ("plain", plain))}
    assert out["ours"].returncode == 0, out["ours"].stderr[-2000:]
    assert "Please check the latest version" in out["plain"].stdout  # the check ran there
    assert "Please check the latest version" not in out["ours"].stdout


def test_the_criteo_sample_runs_only_when_its_file_is_there(tmp_path):
    sample = tmp_path / "criteo_sample.txt"
    assert run_all.benchmark_args("sample", "/w", None, str(sample)) is None
    assert run_all.benchmark_args("sample", "/w", None, None) is None
    sample.write_text("label,I1\n")
    assert run_all.benchmark_args("sample", "/w", None, str(sample)) == [
        "--data", str(sample), "--out", "/w/sample", "--goal-wall", "95"]


def test_the_1m_row_run_is_left_out_unless_named(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(run_all, "run_benchmark",
                        lambda name, args: calls.append(name) or (True, name))
    monkeypatch.setenv("CTR_CRITEO_SAMPLE", str(tmp_path / "absent.txt"))
    assert run_all.main(["--output", str(tmp_path / "B.md")]) == 0
    assert "scale_1m" not in calls and "sample" not in calls  # sample: file absent
    assert calls == ["throughput", "startup", "scale", "serving", "evaluator", "epochs"]
    calls.clear()
    assert run_all.main(["--only", "scale_1m", "--output", str(tmp_path / "B.md")]) == 0
    assert calls == ["scale_1m"]


def test_the_epochs_section_compares_the_kept_models():
    from benchmarks.epochs import format_section
    results = {"without early stopping": {"epoch_auc": [0.75, 0.74, 0.70], "kept_epoch": 3,
                                          "kept_auc": 0.70, "steps": 30, "seconds": 9.0},
               "with early stopping (default)": {"epoch_auc": [0.75, 0.74], "kept_epoch": 1,
                                                 "kept_auc": 0.75, "steps": 20, "seconds": 6.0}}
    text = format_section("python -m benchmarks.epochs --root R", 3, 1024, results)
    assert "| with early stopping (default) | 0.7500 | 0.7400 | - | 1 | **0.7500** | 20 | 6 |" in text
    # kept models compared on the test split; the epochs' AUCs are validation AUCs, not mixed in
    assert ("the kept model with early stopping is +0.0500 AUC from the last epoch's without it, "
            "in 20 steps instead of 30 (the best validation epoch without it: 0.7500)") in text
    assert "kept model's test AUC" in text
