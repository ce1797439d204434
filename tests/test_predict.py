"""`predict`: raw CSV rows through the pushed model's serving signature score exactly like the
Trainer's model on Transform's output; bad input names the column, row and field."""
import csv
import glob
import os

import numpy as np
import pytest

from pipeline.predict import InputError, predict_csv

pytestmark = pytest.mark.pipeline
ROWS = 300


def _read_rows(data_dir, n):
    (path,) = glob.glob(os.path.join(data_dir, "*.csv"))
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [row for _, row in zip(range(n), reader)]


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def raw_rows(e2e_run):
    """300 raw rows with an extra column, some blanked cells and an unseen category."""
    _, data_dir, _, _ = e2e_run
    header, rows = _read_rows(data_dir, ROWS)
    rows = [list(r) for r in rows]
    c6, i3 = header.index("C6"), header.index("I3")
    rows[0][c6] = "never-seen-before"
    rows[1][i3] = ""
    rows[2][c6] = ""
    return header + ["request_id"], [r + [str(i)] for i, r in enumerate(rows)]


def _trainer_predictions(paths, report, header, rows):
    """The Trainer's Keras model on Transform's output for the same raw values (tensors built
    from the CSV cells directly, not through predict's tf.Example encoding)."""
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    graph = sorted(glob.glob(os.path.join(paths.pipeline_root, "Transform", "transform_graph",
                                          "*")))[-1]
    tft_output = tft.TFTransformOutput(graph)
    raw = {}
    for name, feature in tft_output.raw_feature_spec().items():
        column = [r[header.index(name)] for r in rows]
        cast = {tf.int64: int, tf.float32: float}.get(feature.dtype, lambda v: v.encode())
        present = [(i, cast(v)) for i, v in enumerate(column) if v != ""]
        if isinstance(feature, tf.io.FixedLenFeature):
            assert len(present) == len(rows), name
            raw[name] = tf.constant([[v] for _, v in present], dtype=feature.dtype)
        else:
            raw[name] = tf.SparseTensor(indices=[[i, 0] for i, _ in present],
                                        values=tf.constant([v for _, v in present],
                                                           dtype=feature.dtype),
                                        dense_shape=[len(rows), 1])
    transformed = tft_output.transform_features_layer()(raw)
    model = keras.models.load_model(os.path.join(report.model_uri, "Format-Serving"),
                                    custom_objects=custom_objects)
    return model({i.name: transformed[i.name] for i in model.inputs}).numpy()[:, 0]


def test_predict_equals_the_trainer_on_the_same_rows(e2e_run, raw_rows, tmp_path):
    _, _, paths, report = e2e_run
    header, rows = raw_rows
    source = _write(tmp_path / "rows.csv", header, rows)
    out = str(tmp_path / "preds.csv")
    # a batch size that does not divide the row count: the last batch is partial
    assert predict_csv(report.pushed_model, source, out, batch_size=64, progress=None) == ROWS
    with open(out, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["prediction"]
        served = np.array([float(r[0]) for r in reader])
    expected = _trainer_predictions(paths, report, header[:-1], [r[:-1] for r in rows])
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert np.all((served > 0) & (served < 1))


def test_run_root_resolves_to_its_newest_pushed_version(e2e_run):
    from pipeline.predict import resolve_model_dir
    _, _, paths, report = e2e_run
    newest = max(os.listdir(paths.serving_dir), key=int)
    assert resolve_model_dir(paths.root) == os.path.join(paths.serving_dir, newest)


def test_missing_required_column_and_bad_field_are_named(e2e_run, raw_rows, tmp_path):
    _, _, _, report = e2e_run
    header, rows = raw_rows
    c6 = header.index("C6")
    no_c6 = _write(tmp_path / "no_c6.csv", header[:c6] + header[c6 + 1:],
                   [r[:c6] + r[c6 + 1:] for r in rows[:5]])
    with pytest.raises(InputError, match=r"missing required column\(s\) \['C6'\]"):
        predict_csv(report.pushed_model, no_c6, str(tmp_path / "out.csv"), progress=None)
    bad = [list(r) for r in rows[:5]]
    bad[3][header.index("I3")] = "abc"
    bad_file = _write(tmp_path / "bad.csv", header, bad)
    with pytest.raises(InputError, match=r"bad.csv row 5, field I3: 'abc' is not an integer"):
        predict_csv(report.pushed_model, bad_file, str(tmp_path / "out.csv"), progress=None)


def test_cli_reports_bad_input_in_one_line(e2e_run, raw_rows, tmp_path):
    import subprocess
    import sys
    _, _, _, report = e2e_run
    header, rows = raw_rows
    short = _write(tmp_path / "short.csv", header, [rows[0][:-3]])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-m", "pipeline", "predict", "--model",
                             report.pushed_model, "--input", short], cwd=repo,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {short} row 2: {len(header) - 3} fields, the header has {len(header)}")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2
