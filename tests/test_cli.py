"""CLI helpers and the commands' options (pipeline/options.py), with no pipeline run."""
import argparse
import dataclasses
import os
import types

import pytest

from components.dataset_spec import load_spec
from pipeline.run import count_examples, default_train_steps, resolve_input


def _write(path, header, rows=2):
    path.write_text(header + "\n" + "\n".join(["x"] * rows) + "\n")


def test_resolve_input_picks_the_files_with_the_spec_columns(tmp_path):
    spec = load_spec("movielens")
    header = ",".join(["user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender",
                       "age", "occupation", "zip"])
    _write(tmp_path / "movielens_sample.txt", header)
    _write(tmp_path / "criteo_sample.txt", "label,I1,C1")
    _write(tmp_path / "age_vocabulary.csv", "1,1")  # tried first (*.csv), matches nothing
    assert resolve_input(str(tmp_path), spec) == (str(tmp_path), "movielens_sample.txt")
    assert resolve_input(str(tmp_path / "criteo_sample.txt"), spec)[1] == "criteo_sample.txt"
    with pytest.raises(SystemExit, match=r"criteo_sample.txt lacks \['I2'"):
        resolve_input(str(tmp_path), load_spec("criteo"))
    with pytest.raises(SystemExit, match="no such file"):
        resolve_input(str(tmp_path / "nope"), spec)


def test_default_train_steps_cover_the_training_split(tmp_path):
    _write(tmp_path / "a.csv", "label,I1", rows=1000)
    _write(tmp_path / "b.csv", "label,I1", rows=1000)
    assert count_examples(str(tmp_path), "*.csv", "csv") == 2000
    spec = load_spec("criteo")  # split 8:1:1: 1,600 training rows
    assert default_train_steps(2000, spec, epochs=2, batch_size=100) == 32


TRAINING_FLAGS = ["--model", "DCN", "--model-arg", "cross_num=3",
                  "--model-arg", "dnn_hidden_units=(64, 32)", "--batch-size", "256",
                  "--epochs", "3", "--train-steps", "40", "--eval-steps", "7",
                  "--learning-rate", "0.003", "--optimizer", "lazy_adam", "--seed", "5",
                  "--no-early-stopping", "--cache-input", "--jit-compile", "--strategy", "mirrored"]
KUBEFLOW = ["--dataset", "criteo", "--image", "registry.example.com/ctr:1",
            "--pipeline-root", "gs://bucket/ctr", "--data", "gs://bucket/criteo/"]


def _run_options(*argv):
    from pipeline.cli import build_parser
    from pipeline.options import run_options
    return run_options(build_parser().parse_args(["run", *argv]))


def _compile_options(*argv):
    from pipeline.cli import build_parser
    from pipeline.kubeflow import compile_options
    return compile_options(build_parser().parse_args(["compile-kubeflow", *KUBEFLOW, *argv]))


def test_run_and_compile_kubeflow_parse_the_same_flags_into_the_same_training_options():
    from pipeline.options import TrainingOptions
    given = _run_options(*TRAINING_FLAGS).training
    assert given == _compile_options(*TRAINING_FLAGS).training
    assert given == TrainingOptions(
        model="DCN", model_args={"cross_num": 3, "dnn_hidden_units": (64, 32)}, batch_size=256,
        epochs=3, train_steps=40, eval_steps=7, learning_rate=0.003, optimizer="lazy_adam",
        seed=5, early_stopping=False, cache_input=True, jit_compile=True, strategy="mirrored")
    # no flag: the same defaults, which are the dataclass's own
    defaults = _run_options().training
    assert defaults == _compile_options().training == TrainingOptions()
    assert (defaults.batch_size, defaults.epochs, defaults.train_steps) == (None, None, None)


def test_every_pipeline_command_parses_the_same_training_options():
    from pipeline.cli import build_parser
    from pipeline.compare import compare_options
    from pipeline.options import run_options
    from pipeline.retrain import retrain_options
    from pipeline.run import demo_options
    parser = build_parser()
    expected = _run_options(*TRAINING_FLAGS).training
    assert run_options(parser.parse_args(["run", *TRAINING_FLAGS])).training == expected
    assert demo_options(parser.parse_args(["demo", *TRAINING_FLAGS])).run.training == expected
    assert compare_options(parser.parse_args(
        ["compare", "--models", "DeepFM,DCN", *TRAINING_FLAGS])).run.training == expected
    assert retrain_options(parser.parse_args(
        ["retrain", "--root", "r", "--data", "d", *TRAINING_FLAGS])).run.training == expected


def test_run_options_resolve_the_root_and_the_beam_and_run_settings(tmp_path):
    import os
    from pipeline.options import BeamOptions
    options = _run_options("--dataset", "movielens", "--beam-mode", "in_memory",
                           "--beam-arg=--direct_num_workers=3", "--orchestrator", "beam",
                           "--no-cache", "--allow-anomalies", "--window", "2")
    assert options.root == os.path.abspath(os.path.join("runs", "movielens"))
    assert options.beam == BeamOptions(mode="in_memory", args=("--direct_num_workers=3",))
    assert (options.orchestrator, options.enable_cache, options.allow_anomalies,
            options.window) == ("beam", False, True, 2)
    assert _run_options("--root", str(tmp_path / "r")).root == str(tmp_path / "r")
    from pipeline.cli import build_parser
    from pipeline.run import demo_options
    demo = demo_options(build_parser().parse_args(["demo"]))
    assert demo.run.root == os.path.abspath(os.path.join("runs", "demo"))
    # the demo's own defaults
    assert (demo.rows, demo.run.training.eval_steps, demo.run.training.learning_rate) == (
        100_000, 10, 3e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.training.model = "DCN"


def test_a_model_arg_is_parsed_once_as_a_literal_and_a_bad_one_is_named():
    options = _run_options("--model-arg", "name=matrix", "--model-arg", "x=__import__('os')")
    assert options.training.model_args == {"name": "matrix", "x": "__import__('os')"}
    with pytest.raises(ValueError, match="--model-arg expects key=value, got 'oops'"):
        _run_options("--model-arg", "oops")


def test_a_bad_model_arg_stops_the_cli_before_the_root_is_touched(tmp_path, capsys):
    from pipeline.cli import main
    root = tmp_path / "root"
    assert main(["run", "--root", str(root), "--model-arg", "oops"]) == 2
    assert "error: --model-arg expects key=value, got 'oops'" in capsys.readouterr().err
    assert not root.exists()


def test_compile_kubeflow_resolves_the_training_defaults_as_run_does():
    """The same flags and data size give the same TrainingConfig: `run` counts the rows,
    compile-kubeflow takes them from --examples; without them it needs the batch and steps."""
    from pipeline.kubeflow import compiled_training
    from pipeline.run import resolve_training
    spec = load_spec("criteo")
    for flags in ([], ["--epochs", "3"], ["--batch-size", "64"], ["--train-steps", "500"],
                  ["--optimizer", "ftrl", "--seed", "3", "--no-early-stopping"]):
        run_schedule, run_config = resolve_training(_run_options(*flags).training, spec, 100_000)
        schedule, config = compiled_training(_compile_options("--examples", "100000", *flags),
                                             spec)
        assert (schedule, config) == (run_schedule, run_config), flags
    assert resolve_training(_run_options().training, spec, 100_000)[1].batch_size == 1024
    with pytest.raises(SystemExit, match="give --examples N .*or --batch-size and --train-steps"):
        compiled_training(_compile_options("--train-steps", "300"), spec)
    # both given: the data's size decides nothing, as in `run`
    schedule, config = compiled_training(_compile_options("--batch-size", "128",
                                                          "--train-steps", "300"), spec)
    assert (config.batch_size, config.train_steps, config.epochs) == (128, 300, 1)
    assert schedule.chosen == ()


def test_compare_runs_each_model_on_a_copy_of_the_options(tmp_path, monkeypatch):
    """compare's loop hands run_pipeline options with each model in turn and changes nothing
    in the options it was given."""
    import pipeline.run
    from pipeline.compare import LEADERBOARD_JSON, compare, compare_options
    from pipeline.cli import build_parser
    options = compare_options(build_parser().parse_args(
        ["compare", "--models", "DeepFM, DCN,", "--root", str(tmp_path), "--model-arg",
         "dnn_hidden_units=(8,)", "--train-steps", "3", "--batch-size", "32"]))
    before = dataclasses.replace(options)
    seen = []

    def fake_run_pipeline(run_options):
        seen.append(run_options)
        return types.SimpleNamespace(
            training={"model": run_options.training.model, "train_steps": 3, "batch_size": 32},
            overall={"auc": 0.5 + len(seen) / 10}, run_id=str(len(seen)), blessed=True)

    monkeypatch.setattr(pipeline.run, "run_pipeline", fake_run_pipeline)
    compare(options, out=lambda *a: None)
    assert options == before and options.run.training.model == "DeepFM"
    assert options.models == ("DeepFM", "DCN")
    assert [s.training.model for s in seen] == ["DeepFM", "DCN"]
    for run in seen:  # only the model differs
        assert dataclasses.replace(run, training=dataclasses.replace(
            run.training, model="DeepFM")) == options.run
    assert (tmp_path / LEADERBOARD_JSON).exists()
    with pytest.raises(SystemExit, match="--models: give at least one"):
        compare(dataclasses.replace(options, models=()))


def test_retrain_and_kubeflow_declare_their_options_with_the_shared_functions():
    """No command imports another's private argument helpers: retrain's parser is the run
    parser plus its own flags."""
    from pipeline.options import add_run_args
    from pipeline.retrain import add_retrain_args
    run_parser, retrain_parser = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_run_args(run_parser)
    add_retrain_args(retrain_parser)
    run_flags = {a.dest for a in run_parser._actions}
    assert run_flags | {"warm_start", "force", "lock_timeout", "allow_drift"} == {
        a.dest for a in retrain_parser._actions}


def _fake_run_pipeline(seen):
    def run_pipeline(run_options, warm_start=None, allow_drift=None):
        seen.append((run_options, warm_start, allow_drift))
        return types.SimpleNamespace(format=lambda **kwargs: "summary", spans=[1, 2],
                                     components=[], training={}, overall={}, blessed=True,
                                     pushed_model=None)
    return run_pipeline


def test_demo_runs_its_options_on_the_generated_data(tmp_path, monkeypatch):
    import pipeline.run
    from pipeline.cli import build_parser
    from pipeline.run import demo, demo_options
    options = demo_options(build_parser().parse_args(
        ["demo", "--root", str(tmp_path), "--rows", "300", "--seed", "4"]))
    seen = []
    monkeypatch.setattr(pipeline.run, "run_pipeline", _fake_run_pipeline(seen))
    said = []
    demo(options, out=said.append)
    (run, _, allow_drift), = seen
    assert run == dataclasses.replace(options.run, data=str(tmp_path / "data"))
    assert allow_drift is None  # no drift check: that is retrain's
    assert options.run.data is None  # the given options are left as they were
    assert said[0] == "summary" and said[1].startswith("Oracle AUC")


def test_retrain_runs_the_newest_spans_with_its_options(tmp_path, monkeypatch):
    import pipeline.run
    from pipeline.cli import build_parser
    from pipeline.retrain import retrain, retrain_options
    for span in (1, 2, 3):
        (tmp_path / "data" / f"span-{span}").mkdir(parents=True)
        (tmp_path / "data" / f"span-{span}" / "part.csv").write_text("label,I1\n1,2\n")
    options = retrain_options(build_parser().parse_args(
        ["retrain", "--root", str(tmp_path / "root"), "--data", str(tmp_path / "data"),
         "--window", "2", "--warm-start", "--model", "DCN"]))
    seen = []
    monkeypatch.setattr(pipeline.run, "run_pipeline", _fake_run_pipeline(seen))
    said = []
    retrain(options, out=said.append)
    # nothing pushed yet: a fresh model; the drift gate on (no --allow-drift)
    assert seen == [(options.run, None, False)]
    assert "Warm start: nothing pushed yet in this root; training a fresh model" in said
    assert "training on 2, 3" in said[-1]


def test_parsing_the_options_of_every_pipeline_command_loads_no_tensorflow():
    """TensorFlow's start-up lines (cuFFT/cuDNN factory errors) go to the run's log only when it
    is first imported after QuietRun took over the console: option parsing must not import it."""
    import subprocess
    import sys
    code = """
import sys
from pipeline.cli import build_parser
from pipeline.options import run_options
from pipeline.run import demo_options
from pipeline.compare import compare_options
from pipeline.retrain import retrain_options
parse = build_parser().parse_args
run_options(parse(["run", "--dataset", "criteo", "--root", "/tmp/r", "--model-arg", "a=(1, 2)"]))
demo_options(parse(["demo", "--root", "/tmp/r"]))
compare_options(parse(["compare", "--dataset", "criteo", "--root", "/tmp/r", "--models", "DeepFM"]))
retrain_options(parse(["retrain", "--dataset", "criteo", "--root", "/tmp/r", "--data", "/tmp/d"]))
print(sorted(m for m in ("tensorflow", "tfx", "apache_beam", "tf_keras") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
