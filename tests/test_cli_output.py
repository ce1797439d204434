"""What a person sees from the CLI: a run (a line per component, the summary, report and log
paths), a failing run (the failing component, the error, the log path, no traceback), and
`compare` / `runs` on the same root (Transform cached: one small extra training run).

The root is the one the README's first two criteo runs use (tests/shared_runs.py): its first run,
the default run on the bundled sample, is the run checked here, and the README test's second run
is in its history."""
import os
import re
import subprocess
import sys

import pytest
from cli_testing import run_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 40
# the bundled sample's default number of training steps (tests/test_readme_commands.py checks the
# schedule: batch 64, 2 epochs = 50 steps over the 8/10 of its rows in the train split)
DEFAULT_STEPS = 50


_cli = run_cli


def _path_after(label, output):
    match = re.search(rf"^{label}: (\S+)$", output, re.MULTILINE)
    assert match, (label, output)
    return match.group(1)


@pytest.fixture(scope="module")
def root(criteo_cli_root):
    return criteo_cli_root.root


@pytest.fixture(scope="module")
def good_run(criteo_cli_root):
    return criteo_cli_root.result("readme_default")


@pytest.fixture(scope="module")
def failing_run(criteo_cli_root):
    return criteo_cli_root.result("failing")


@pytest.fixture(scope="module")
def compare_run(criteo_cli_root):
    return criteo_cli_root.result("compare")


@pytest.mark.pipeline
def test_successful_run_prints_a_line_per_component_and_the_summary(good_run, root):
    code, output = good_run
    lines = output.splitlines()
    assert code == 0, output
    assert len(lines) <= MAX_LINES, output
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator",
                      "Pusher"):
        assert re.search(rf"\] {component} +(done|cached) +[\d.]+ s", output), component
    assert re.search(rf"Trainer +step \d+/{DEFAULT_STEPS} loss [\d.]+ auc [\d.]+", output), output
    # the summary states the verdict, and why when it is not blessed (the README test checks
    # that this default run is blessed)
    verdict = re.search(r"^Blessed: (True|False)$", output, re.MULTILINE)
    assert verdict and "Traceback" not in output, output
    if verdict.group(1) == "False":
        assert re.search(r"^  failed: overall: auc = [\d.]+, needs >= [\d.]+$", output,
                         re.MULTILINE), output
    assert not re.search(r"WARNING|cuda|Exception ignored", output), output
    log = _path_after("Full log", output)
    assert os.path.dirname(log) == os.path.join(root, "logs")
    with open(log) as f:
        text = f.read()
    assert "Component Transform is running." in text  # the detail went to the log
    run_id = os.path.basename(log)[:-len(".log")]
    assert f"run {run_id}" in output  # the log is named after the run id
    assert os.path.exists(_path_after("Report", output))


@pytest.mark.pipeline
def test_failing_run_names_the_component_and_the_log(failing_run):
    code, output = failing_run
    assert code == 1, output
    assert re.search(r"^FAILED in Trainer: \w+", output, re.MULTILINE), output
    assert "Traceback" not in output and len(output.splitlines()) <= MAX_LINES, output
    log = _path_after("Full log", output)
    with open(log) as f:
        assert "Traceback" in f.read()  # the full story is in the log


@pytest.mark.pipeline
def test_compare_writes_a_leaderboard_and_runs_lists_the_history(compare_run, root):
    code, output = compare_run
    assert code == 0, output
    with open(os.path.join(root, "leaderboard.md")) as f:
        table = f.read()
    rows = [line for line in table.splitlines() if re.match(r"\| \d ", line)]
    assert sorted(r.split("|")[2].strip() for r in rows) == ["DCN", "DeepFM"]
    assert table.strip() in output
    assert "leaderboard" in open(_path_after("Report", output)).read().lower()
    # DeepFM with the same settings as the first run: nothing to re-run
    assert re.search(r"Trainer +cached", output)
    code, history = _cli("runs", "--root", root)
    assert code == 0, history
    body = [line for line in history.splitlines()[2:] if line.startswith("|")]
    # the README's default run and its rerun with the same input, the failed run, DeepFM and DCN
    assert len(body) == 5
    assert "DCN" in body[0]  # newest first
    assert re.search(r"\| 0\.\d{4} \|", body[0])


def test_output_of_this_process_and_of_its_children_goes_to_the_log(tmp_path):
    log = tmp_path / "logs" / "x.log"
    script = ("import os, sys\n"
              "from pipeline.progress import redirect_output_to\n"
              f"console = redirect_output_to({str(log)!r})\n"
              "console.write('for the person\\n')\n"
              "print('python stdout'); print('python stderr', file=sys.stderr); sys.stdout.flush()\n"
              "os.system('echo child stderr >&2')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert result.stdout == "for the person\n" and result.stderr == ""
    assert log.read_text().split("\n")[:3] == ["python stdout", "python stderr",
                                               "child stderr"]


def _record(message, name="absl"):
    import logging
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def test_progress_lines_per_component_and_cached_components_get_one_line():
    import io
    import time
    from pipeline.progress import START_LINE_DELAY_S, ComponentProgress
    console = io.StringIO()
    progress = ComponentProgress(console)
    progress.emit(_record("Component CsvExampleGen is running."))
    progress.emit(_record("A cached execution 4 is used."))
    progress.emit(_record("Component CsvExampleGen is finished."))
    progress.emit(_record("Component Trainer is running."))
    assert progress.current == "Trainer"
    progress.emit(_record("step 5/10 loss 0.5000 auc 0.7000", name="ctr_pipeline.progress"))
    time.sleep(START_LINE_DELAY_S + 0.5)  # no second start line once progress was shown
    progress.emit(_record("Component Trainer is finished."))
    progress.close()
    lines = [line.split("] ", 1)[1].split() for line in console.getvalue().splitlines()]
    assert [line[:2] for line in lines] == [["CsvExampleGen", "cached"], ["Trainer", "running"],
                                            ["Trainer", "step"], ["Trainer", "done"]]
    assert progress.current is None and [f[2] for f in progress.finished] == ["cached", "done"]
