"""Outputs that later runs and readers trust are never left half-written (issue 23, item 3).

- `compare`'s leaderboard (`leaderboard.json`/`.md`, read by every later report): a write that
  fails midway leaves the previous leaderboard as it was, and no temporary file.
- `predict --out`: a run that fails midway (a bad row, a failing model) leaves nothing at --out
  (or the previous file untouched) and no temporary file; an --out that is the input file is
  refused with one line before anything is read.
- `predict --model <run root>` scores with the newest version that ML-Metadata recorded as
  pushed: a version folder whose push was never recorded (the Pusher stopped between the
  folder's rename and ML-Metadata's record) is skipped, and the skip is said.

Unit-level: no pipeline runs; the model, the row encoder and the pipeline run are stand-ins, and
a failure is injected in the middle of each write.
"""
import errno
import io
import json
import os
import sys
import types

import pytest

from pipeline import compare as compare_module
from pipeline import predict as predict_module


# ------------------------------------------------------------------------------ leaderboard

def _fake_report(model, auc):
    return types.SimpleNamespace(
        training={"model": model, "model_args": {}, "parameters": 10, "train_seconds": 1.0,
                  "examples_per_second": 100, "train_steps": 5, "batch_size": 8},
        overall={"auc": auc}, run_id=f"run-{model}", blessed=True)


@pytest.fixture
def compare_without_pipeline(monkeypatch):
    """`compare` with its pipeline run and model registry replaced: each model 'runs' at once."""
    aucs = {"DeepFM": 0.71, "DCN": 0.73}
    fake_run = types.ModuleType("pipeline.run")
    fake_run.run_pipeline = lambda run: _fake_report(run.training.model, aucs[run.training.model])
    fake_models = types.ModuleType("ctr_models.models")
    fake_models.get_model_fn = lambda name: name
    monkeypatch.setitem(sys.modules, "pipeline.run", fake_run)
    monkeypatch.setitem(sys.modules, "ctr_models.models", fake_models)

    def run(root):
        from pipeline.options import RunOptions
        options = compare_module.CompareOptions(run=RunOptions(dataset="criteo", root=str(root)),
                                                models=("DeepFM", "DCN"))
        return compare_module.compare(options, out=lambda line: None)
    return run


def _half_writing_dump(real_dump, calls):
    """json.dump that writes the first half of its output, then fails as a full disk does."""
    def dump(obj, handle, **kwargs):
        calls.append(1)
        text = json.dumps(obj, **kwargs)
        handle.write(text[:len(text) // 2])
        handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")
    return dump


def test_compare_writes_a_readable_leaderboard(compare_without_pipeline, tmp_path):
    compare_without_pipeline(tmp_path)
    with open(tmp_path / compare_module.LEADERBOARD_JSON) as f:
        board = json.load(f)
    assert [row["model"] for row in board["rows"]] == ["DCN", "DeepFM"]
    assert board["train_steps"] == 5
    assert "DCN" in (tmp_path / compare_module.LEADERBOARD_MD).read_text()
    assert sorted(os.listdir(tmp_path)) == [compare_module.LEADERBOARD_JSON,
                                            compare_module.LEADERBOARD_MD]


def test_failed_leaderboard_write_keeps_the_previous_one(compare_without_pipeline, tmp_path,
                                                         monkeypatch):
    previous = json.dumps({"dataset": "criteo", "rows": [{"model": "FiBiNET"}]})
    (tmp_path / compare_module.LEADERBOARD_JSON).write_text(previous)
    calls = []
    monkeypatch.setattr(json, "dump", _half_writing_dump(json.dump, calls))
    with pytest.raises(OSError, match="No space left"):
        compare_without_pipeline(tmp_path)
    assert calls, "the failure was not injected: the leaderboard is not written with json.dump"
    assert (tmp_path / compare_module.LEADERBOARD_JSON).read_text() == previous
    leftovers = [n for n in os.listdir(tmp_path) if n not in (compare_module.LEADERBOARD_JSON,
                                                              compare_module.LEADERBOARD_MD)]
    assert leftovers == []
