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


# ------------------------------------------------------------------------------ predict --out

class FakeEncoder:
    """RowEncoder's interface; a row whose first cell is 'bad' is an unreadable cell."""

    def __init__(self, schema, source):
        self.source = source

    def check_header(self, header):
        pass

    def encode(self, row, row_number):
        if row["x"] == "bad":
            raise predict_module.InputError(f"{self.source} row {row_number}, field x: 'bad' "
                                            f"is not a number")
        return row["x"].encode()


def fake_predictor(fail_on=None, constructed=None):
    """A Predictor stand-in scoring float(x) / 100; raises on the batch holding `fail_on`."""
    class FakePredictor:
        schema = None
        outputs = ["prediction"]

        def __init__(self, model_dir, **kwargs):
            if constructed is not None:
                constructed.append(model_dir)

        def __call__(self, serialized):
            if fail_on is not None and fail_on in serialized:
                raise RuntimeError("the model failed")
            return {"prediction": [float(x) / 100 for x in serialized]}
    return FakePredictor


def _write_rows(path, cells):
    path.write_text("x,label\n" + "".join(f"{c},0\n" for c in cells))


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.setattr(predict_module, "RowEncoder", FakeEncoder)
    monkeypatch.setattr(predict_module, "Predictor", fake_predictor())


def test_predict_writes_every_row(fake_model, tmp_path):
    source, out = tmp_path / "rows.csv", tmp_path / "preds.csv"
    _write_rows(source, range(10))
    assert predict_module.predict_csv("model", str(source), str(out), batch_size=3,
                                      progress=None) == 10
    assert out.read_text().splitlines() == ["prediction"] + [f"{i / 100:.8g}" for i in range(10)]
    assert sorted(os.listdir(tmp_path)) == ["preds.csv", "rows.csv"]


@pytest.mark.parametrize("failure", ["bad row", "model error"])
def test_predict_failing_midway_leaves_nothing_at_out(monkeypatch, tmp_path, failure):
    source, out = tmp_path / "rows.csv", tmp_path / "preds.csv"
    cells = [str(i) for i in range(10)]
    if failure == "bad row":
        cells[7] = "bad"  # rows 0-5 are scored and written first (batch_size 2)
        monkeypatch.setattr(predict_module, "Predictor", fake_predictor())
        expected = predict_module.InputError
    else:
        monkeypatch.setattr(predict_module, "Predictor", fake_predictor(fail_on=b"7"))
        expected = RuntimeError
    monkeypatch.setattr(predict_module, "RowEncoder", FakeEncoder)
    _write_rows(source, cells)
    with pytest.raises(expected):
        predict_module.predict_csv("model", str(source), str(out), batch_size=2, progress=None)
    assert sorted(os.listdir(tmp_path)) == ["rows.csv"]  # no preds.csv, no temporary file


def test_predict_failing_midway_keeps_the_previous_out(monkeypatch, tmp_path):
    source, out = tmp_path / "rows.csv", tmp_path / "preds.csv"
    out.write_text("prediction\n0.5\n")
    _write_rows(source, range(10))
    monkeypatch.setattr(predict_module, "RowEncoder", FakeEncoder)
    monkeypatch.setattr(predict_module, "Predictor", fake_predictor(fail_on=b"7"))
    with pytest.raises(RuntimeError):
        predict_module.predict_csv("model", str(source), str(out), batch_size=2, progress=None)
    assert out.read_text() == "prediction\n0.5\n"
    assert sorted(os.listdir(tmp_path)) == ["preds.csv", "rows.csv"]


@pytest.mark.parametrize("spelling", ["same path", "relative path", "symlink"])
def test_predict_refuses_out_that_is_the_input(monkeypatch, tmp_path, spelling):
    source = tmp_path / "rows.csv"
    _write_rows(source, range(10))
    original = source.read_text()
    constructed = []
    monkeypatch.setattr(predict_module, "RowEncoder", FakeEncoder)
    monkeypatch.setattr(predict_module, "Predictor", fake_predictor(constructed=constructed))
    monkeypatch.chdir(tmp_path)
    if spelling == "same path":
        out = str(source)
    elif spelling == "relative path":
        out = os.path.join(".", "rows.csv")
    else:
        os.symlink(source, tmp_path / "link.csv")
        out = str(tmp_path / "link.csv")
    with pytest.raises(SystemExit) as error:
        predict_module.predict_csv("model", str(source), out, batch_size=2, progress=None)
    message = str(error.value.code)
    assert "--out" in message and "--input" in message and "\n" not in message
    assert constructed == []  # refused before the model is loaded or a row is read
    assert source.read_text() == original


# ------------------------------------------------------------------------------ unrecorded push

def _record_pushes(root, versions, not_pushed=()):
    """A metadata.sqlite under `root` with PushedModel artefacts as the Pusher records them."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(root / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_artifact_type(mlmd.ArtifactType(name="PushedModel"))
    artifacts = []
    for version in versions:
        artifact = mlmd.Artifact(type_id=type_id, uri=str(root / "Pusher" / version))
        artifact.custom_properties["pushed"].int_value = 1
        artifact.custom_properties["pushed_destination"].string_value = str(
            root / "serving" / version)
        artifact.custom_properties["pushed_version"].string_value = version
        artifacts.append(artifact)
    for _ in not_pushed:
        artifact = mlmd.Artifact(type_id=type_id, uri=str(root / "Pusher" / "blocked"))
        artifact.custom_properties["pushed"].int_value = 0
        artifacts.append(artifact)
    store.put_artifacts(artifacts)


def _version_folders(root, versions):
    for version in versions:
        folder = root / "serving" / version
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"model")


def test_run_root_skips_a_version_folder_without_a_push_record(tmp_path):
    _version_folders(tmp_path, ["100", "200", "300"])
    _record_pushes(tmp_path, ["100", "200"], not_pushed=[1])
    said = io.StringIO()
    chosen = predict_module.resolve_model_dir(str(tmp_path), report=said)
    assert chosen == str(tmp_path / "serving" / "200")
    assert "300" in said.getvalue() and "ML-Metadata" in said.getvalue()


def test_run_root_uses_its_newest_recorded_version(tmp_path):
    _version_folders(tmp_path, ["100", "200"])
    _record_pushes(tmp_path, ["100", "200"])
    said = io.StringIO()
    assert predict_module.resolve_model_dir(str(tmp_path), report=said) == str(
        tmp_path / "serving" / "200")
    assert said.getvalue() == ""


def test_run_root_whose_only_version_is_unrecorded_is_refused(tmp_path):
    _version_folders(tmp_path, ["100"])
    _record_pushes(tmp_path, [], not_pushed=[1])
    with pytest.raises(SystemExit, match="ML-Metadata"):
        predict_module.resolve_model_dir(str(tmp_path), report=io.StringIO())
