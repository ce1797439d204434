"""Reliability, bad input (issue 12, part A): every case ends in a clear error naming the file,
row, field and value, or in a documented safe mapping (README "Reliability" / "Bad input").

Most cases need no pipeline run: the pre-flight scan (pipeline/input_check.py), the spec loader,
the model check and a tiny in-memory tf.Transform run. ONE small pipeline run (module-scoped,
CRLF input with NaN/inf/1e300/negative counts in dense cells) backs the cases that need the
pushed SavedModel: serving errors, unseen categories, non-finite values scoring finite; it runs
in a process of its own beside the other tests."""
import ast
import gzip
import math
import os
import pathlib
import re

import numpy as np
import pytest
import yaml

from background_runs import in_a_subprocess, register as register_background_run
from components.dataset_spec import DatasetSpec, SpecError, load_spec
from pipeline.options import parse_model_args
from pipeline_testing import transform_rows
from pipeline.input_check import (InputCheckError, check_csv_files, check_input, check_model,
                                  check_split_sizes)

CRITEO = load_spec("criteo")
HEADER = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]


def _row(label="0", dense=None, c1="aa"):
    dense = dense or {}
    cells = [label] + [dense.get(f"I{i}", str(i)) for i in range(1, 14)]
    return cells + [c1] + [f"c{i}" for i in range(2, 27)]


def _csv(path, rows, header=HEADER, newline="\n"):
    path.write_text(newline.join(",".join(r) for r in [header] + rows) + newline)
    return str(path)


def _rows(n=200, **kwargs):
    return [_row(label=str(i % 2), **kwargs) for i in range(n)]


# -- CSV -----------------------------------------------------------------------------------------

def test_good_csv_with_crlf_line_endings_passes_and_rows_are_counted(tmp_path):
    path = _csv(tmp_path / "a.csv", _rows(), newline="\r\n")
    assert check_csv_files([path], CRITEO) == {path: 200}


def test_wrong_field_count_names_the_file_and_row(tmp_path):
    rows = _rows()
    rows[3] = rows[3][:-1]
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match=re.escape(
            f"{path} row 5: 39 fields, the header has 40; fix the row")):
        check_csv_files([path], CRITEO)


def test_unbalanced_quotes_name_the_row_where_the_field_opens(tmp_path):
    rows = _rows()
    rows[6][20] = '"abc'
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match=re.escape(f"{path} row 8: unbalanced quotes")):
        check_csv_files([path], CRITEO)


def test_a_header_differing_between_files_of_one_folder(tmp_path):
    a = _csv(tmp_path / "a.csv", _rows())
    swapped = ["label", "I2", "I1"] + HEADER[3:]
    b = _csv(tmp_path / "b.csv", _rows(), header=swapped)
    with pytest.raises(InputCheckError, match=re.escape(
            f"{b}: its header differs from {a}'s (column 2: 'I2' vs 'I1'; column 3: 'I1' vs "
            f"'I2')")):
        check_csv_files([a, b], CRITEO)


def test_byte_order_mark_is_a_clear_error(tmp_path):
    path = tmp_path / "bom.csv"
    _csv(path, _rows())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with pytest.raises(InputCheckError, match="starts with a UTF-8 byte-order mark"):
        check_csv_files([str(path)], CRITEO)


def test_gzip_with_a_header_is_refused_and_headerless_gzip_is_read(tmp_path):
    text = "\n".join(",".join(r) for r in [HEADER] + _rows()) + "\n"
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InputCheckError, match="gzip-compressed CSV with a header line.*gunzip"):
        check_csv_files([str(gz)], CRITEO)
    headerless = DatasetSpec.from_dict({**yaml.safe_load(open(CRITEO.source)),
                                        "columns": HEADER}, source="headerless.yaml")
    body = tmp_path / "b.csv.gz"
    body.write_bytes(gzip.compress(text.split("\n", 1)[1].encode()))
    assert check_csv_files([str(body)], headerless) == {str(body): 200}


def test_empty_file_and_header_only_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputCheckError, match=re.escape(f"{empty}: empty file")):
        check_csv_files([str(empty)], CRITEO)
    only = _csv(tmp_path / "only.csv", [])
    with pytest.raises(InputCheckError, match=re.escape(f"{only}: only a header line, no rows")):
        check_csv_files([only], CRITEO)


def test_tiny_data_would_leave_a_split_empty(tmp_path):
    path = _csv(tmp_path / "a.csv", _rows(60))
    with pytest.raises(InputCheckError, match=re.escape(
            f"{tmp_path}: 60 rows; the validation split (1/10 of the rows, assigned by hash) would get "
            f"~6.0 rows and may be empty: give at least 100 rows")):
        check_input(CRITEO, {str(tmp_path): [path]})
    check_split_sizes(100, CRITEO, "x")  # enough


def test_file_and_value_splits_count_each_splits_rows_instead_of_shares(tmp_path):
    """60 rows are too few for the 8:1:1 shares (above), but where the files or a column's values
    decide the splits, the rows of each split are counted: 40/10/10 is enough, an empty split is
    named."""
    import dataclasses
    for name, n in (("train", 40), ("validation", 10), ("test", 10)):
        (tmp_path / "folders" / name).mkdir(parents=True)
        _csv(tmp_path / "folders" / name / "part.csv", _rows(n))
    folder_files = sorted(str(p) for p in (tmp_path / "folders").glob("*/part.csv"))
    check_input(CRITEO, {"folders": folder_files})
    by_files = dataclasses.replace(CRITEO, split_order="files", split_files=(
        ("train", "day_[0-3].csv"), ("validation", "day_4.csv"), ("test", "day_5.csv")))
    days = [_csv(tmp_path / f"day_{d}.csv", _rows(10)) for d in range(5)]  # no day_5: no test
    with pytest.raises(InputCheckError, match=re.escape(
            "days: the test split would get no rows (rows per split, assigned by files: "
            "train 40, validation 10, test 0); give each split rows")):
        check_input(by_files, {"days": days})
    check_input(by_files, {"days": days + [_csv(tmp_path / "day_5.csv", _rows(10))]})
    # by values of C1: 'aa' (every row of _rows) is train, 'bb' validation, 'cc' test
    by_values = dataclasses.replace(CRITEO, split_order="values", split_by="C1", split_values=(
        ("train", ("aa",)), ("validation", ("bb",)), ("test", ("cc",))))
    rows = _rows(40) + _rows(10, c1="bb") + _rows(10, c1="cc")
    check_input(by_values, {"values": [_csv(tmp_path / "v.csv", rows)]})
    with pytest.raises(InputCheckError, match=re.escape(
            "the validation and test splits would get no rows (rows per split, assigned by "
            "values of C1: train 300, validation 0, test 0)")):
        check_input(by_values, {"values": [_csv(tmp_path / "w.csv", _rows(300))]})


# -- values --------------------------------------------------------------------------------------

def test_text_in_a_dense_column_names_file_row_field_value(tmp_path):
    rows = _rows()
    rows[1] = _row(dense={"I3": "abc"})
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match=re.escape(
            f"{path} row 3, field I3: 'abc' is not a number (dense feature: leave the cell empty "
            f"for a missing value, or declare I3 under sparse)")):
        check_csv_files([path], CRITEO)
    rows[1] = _row(dense={"I4": "99999999999999999999"})
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match="row 3, field I4: '99999999999999999999' is an "
                                              "integer beyond int64"):
        check_csv_files([path], CRITEO)


def test_non_finite_and_huge_dense_values_pass_the_scan(tmp_path):
    rows = _rows()
    rows[0] = _row(dense={"I1": "nan", "I2": "inf", "I3": "-inf", "I4": "1e300", "I5": "-7"})
    path = _csv(tmp_path / "a.csv", rows)
    assert check_csv_files([path], CRITEO) == {path: 200}


@pytest.mark.parametrize("label,problem", [
    ("2", "is outside the binary label's domain {0, 1}"),
    ("-1", "is outside the binary label's domain {0, 1}"),
    ("", "is missing"),
    ("yes", "is not a number"),
])
def test_labels_outside_their_domain_are_counted_not_trained_on(tmp_path, label, problem):
    rows = _rows()
    for i in (4, 9, 17):
        rows[i][0] = label
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match=re.escape(
            f"{path}: 3 of 200 rows have a label that cannot be trained on: field label "
            f"{problem}")) as error:
        check_csv_files([path], CRITEO)
    assert f"(first: row 6, value {label!r})" in str(error.value)


def test_mapped_labels_outside_the_mapping_and_regression_labels(tmp_path):
    raw = yaml.safe_load(open(CRITEO.source))
    mapped = DatasetSpec.from_dict({**raw, "labels": [
        {"name": "label", "column": "label", "mapping": {"0": 0, "1": 1}}]})
    rows = _rows()
    rows[2][0] = "maybe"
    path = _csv(tmp_path / "a.csv", rows)
    with pytest.raises(InputCheckError, match=r"field label is not one of the label's mapping "
                                              r"keys \['0', '1'\] \(or set `unmapped`\)"):
        check_csv_files([path], mapped)
    regression = DatasetSpec.from_dict({**raw, "labels": [
        {"name": "label", "column": "label", "task": "regression"}]})
    rows[2][0] = "3.5"
    assert check_csv_files([_csv(tmp_path / "a.csv", rows)], regression)
    rows[2][0] = "inf"
    with pytest.raises(InputCheckError, match="field label is not a finite number"):
        check_csv_files([_csv(tmp_path / "a.csv", rows)], regression)


TFT_SPEC = {
    "name": "tiny",
    "labels": [{"name": "label", "column": "clicked"}],
    "dense": [{"name": "count", "log": True, "fill_value": 0.0},
              {"name": "price", "fill_value": 2.0}],
    "sparse": ["C1"],
    "multi_value": [{"name": "genres", "max_length": 2}],
}
# count: log: true; price: no log, fill 2. Row 3 stands for a CSV cell 1e300, which ExampleGen
# writes as a float32, i.e. +inf (the pipeline run below reads such a cell); -5 is a negative
# count.
TFT_ROWS = [
    {"clicked": 1, "count": [3.0], "price": [1.0], "C1": ["a"], "genres": ["x|y|z|w"]},
    {"clicked": 0, "count": [float("nan")], "price": [float("inf")], "C1": ["a"], "genres": [""]},
    {"clicked": 0, "count": [float("inf")], "price": [-float("inf")], "C1": ["b"],
     "genres": []},
    {"clicked": 1, "count": [np.inf], "price": [4.0], "C1": ["b"], "genres": ["y"]},
    {"clicked": 0, "count": [-5.0], "price": [3e38], "C1": ["a"], "genres": ["x"]},
]


@pytest.fixture(scope="module")
def tiny_transform(tmp_path_factory):
    import tensorflow as tf
    raw_spec = {"clicked": tf.io.FixedLenFeature([], tf.int64),
                "count": tf.io.VarLenFeature(tf.float32), "price": tf.io.VarLenFeature(tf.float32),
                "C1": tf.io.VarLenFeature(tf.string), "genres": tf.io.VarLenFeature(tf.string)}
    return transform_rows(DatasetSpec.from_dict(TFT_SPEC), raw_spec, TFT_ROWS, tmp_path_factory)


def test_non_finite_dense_values_map_to_fill_value_then_clip(tiny_transform):
    from components.transform import DENSE_LIMIT
    data, _ = tiny_transform
    count = np.array([float(r["count"][0]) for r in data])
    # nan, inf and 1e300 (inf in float32) -> fill 0; -5 -> sign * log1p(5)
    logged = np.array([math.log1p(3), 0.0, 0.0, 0.0, -math.log1p(5)])
    np.testing.assert_allclose(count, (logged - logged.min()) / np.ptp(logged), atol=1e-6)
    price = np.array([float(r["price"][0]) for r in data])
    clipped = np.array([1.0, 2.0, 2.0, 4.0, DENSE_LIMIT])  # inf/-inf -> fill 2; 3e38 clipped
    np.testing.assert_allclose(price, (clipped - 1.0) / (DENSE_LIMIT - 1.0), rtol=1e-5, atol=1e-7)
    assert np.isfinite(count).all() and np.isfinite(price).all()


def test_serving_graph_applies_the_same_mapping(tiny_transform):
    import tensorflow as tf
    data, tft_output = tiny_transform
    layer = tft_output.transform_features_layer()
    out = layer({"count": tf.sparse.from_dense(tf.constant([[np.inf], [np.nan], [3.0]])),
                 "price": tf.sparse.from_dense(tf.constant([[-np.inf], [1.0], [1.0]])),
                 "C1": tf.sparse.from_dense(tf.constant([["never-seen"], ["a"], ["a"]])),
                 "genres": tf.sparse.from_dense(tf.constant([["x|never|y"], ["x"], ["x"]]))})
    count = out["count"].numpy()[:, 0]
    assert count[0] == count[1] == pytest.approx(float(data[1]["count"][0]))  # fill, as trained
    assert count[2] == pytest.approx(float(data[0]["count"][0]))
    assert out["price"].numpy()[0, 0] == pytest.approx(float(data[1]["price"][0]))
    assert int(out["C1"][0, 0]) == 1  # unseen -> C1's OOV id


def test_multi_value_truncation_and_empty_cells(tiny_transform):
    data, tft_output = tiny_transform
    vocab = [t.decode() for t in tft_output.vocabulary_by_name("vocab_ids")]
    ids = {t: 3 + i for i, t in enumerate(vocab)}  # padding, OOV of C1, OOV of genres
    # max_length 2 keeps the first two values (keep: first); z, w are dropped
    np.testing.assert_array_equal(data[0]["genres"], [ids["genres=x"], ids["genres=y"]])
    np.testing.assert_array_equal(data[1]["genres"], [0, 0])  # empty cell -> padding
    np.testing.assert_array_equal(data[2]["genres"], [0, 0])  # missing cell -> padding


# -- dataset spec ------------------------------------------------------------------------------

BASE = yaml.safe_load(open(CRITEO.source))


@pytest.mark.parametrize("change,message", [
    ({"labls": []}, r"<top level>: unknown keys \['labls'\] \(did you mean 'labels'\?\)"),
    ({"sparse": [{"name": "C1", "embeding_dim": 4}]},
     r"sparse.C1: unknown keys \['embeding_dim'\] \(did you mean 'embedding_dim'\?\)"),
    ({"evaluation": {"auc_treshold": 0.6}}, r"evaluation: unknown keys \['auc_treshold'\] "
                                            r"\(did you mean 'auc_threshold'\?\)"),
    ({"labels": []}, r"labels: at least one label is required"),
    ({"sparse": [{"name": "C1", "encoding": "onehot"}]},
     r"sparse.C1: encoding must be one of \('vocabulary', 'hash'\), got 'onehot'"),
    ({"sparse": ["C1", "C1"]}, r"features: duplicate names \['C1'\]"),
    ({"sparse": ["I1"]}, r"features: duplicate names \['I1'\]: a name may appear once across "
                         r"labels, dense, sparse and multi_value"),
    ({"multi_value": [{"name": "hist", "vocab_of": "nowhere"}]},
     r"multi_value.hist: vocab_of must name a sparse feature, got 'nowhere'"),
    ({"slices": ["C66"]}, r"slices: 'C66' is not a declared feature \(did you mean 'C6'\?\)"),
    ({"sparse": [{"name": "C1", "encoding": "hash", "hash_buckets": 1}]},
     r"sparse.C1: encoding: hash needs hash_buckets > 1, got 1"),
    ({"sparse": [{"name": "C1", "embedding_dim": 0}]},
     r"sparse.C1: embedding_dim must be a positive int, got 0"),
    ({"sample": "../../../etc/passwd"},
     r"sample: must be a file name in data/samples \(no folders\), got '../../../etc/passwd'"),
])
def test_spec_errors_name_the_file_field_and_value(change, message):
    with pytest.raises(SpecError, match="^bad.yaml: " + message):
        DatasetSpec.from_dict({**BASE, **change}, source="bad.yaml")


# -- model ---------------------------------------------------------------------------------------

def test_unknown_model_name_suggests_close_names():
    with pytest.raises(InputCheckError, match=r"--model deepfn: no such model; did you mean "
                                              r"DeepFM"):
        check_model(CRITEO, "deepfn", {})


def test_misspelt_model_arg_suggests_the_right_one():
    with pytest.raises(InputCheckError, match=r"--model-arg dnn_hiden_units: DeepFM has no "
                                              r"argument 'dnn_hiden_units'; did you mean "
                                              r"'dnn_hidden_units'\?"):
        check_model(CRITEO, "DeepFM", {"dnn_hiden_units": (8,)})


def test_impossible_model_configurations_fail_before_any_component():
    check_model(CRITEO, "DeepFM", {"dnn_hidden_units": (8,)})  # a good one builds
    with pytest.raises(InputCheckError, match=r"--model DeepFM \{'dnn_hidden_units': 'oops'\} "
                                              r"cannot be built from dataset spec"):
        check_model(CRITEO, "DeepFM", {"dnn_hidden_units": "oops"})
    with pytest.raises(InputCheckError, match=r"--model FLEN .*FLEN needs sparse fields in at "
                                              r"least 2 distinct group_names"):
        check_model(CRITEO, "FLEN", {})
    mixed = DatasetSpec.from_dict({**BASE, "sparse": ["C1", {"name": "C2", "embedding_dim": 8,
                                                             "vocab_group": "other"}],
                                   "slices": []}, source="mixed.yaml")
    with pytest.raises(InputCheckError, match=r"--model DeepFM .*cannot be built from dataset "
                                              r"spec mixed.yaml's features: .*embedding_dim "
                                              r"\[4, 8\]"):
        check_model(mixed, "DeepFM", {})


# -- security ----------------------------------------------------------------------------------

def test_model_args_are_literals_never_code(tmp_path):
    marker = tmp_path / "executed"
    code = f"__import__('os').system('touch {marker}')"
    args = parse_model_args([f"x={code}", "units=(4, 2)", "rate=0.5", "name=matrix"])
    assert args == {"x": code, "units": (4, 2), "rate": 0.5, "name": "matrix"}
    assert not marker.exists()
    with pytest.raises(ValueError, match="--model-arg expects key=value"):
        parse_model_args(["oops"])


def test_no_pickle_eval_or_exec_in_the_project_code():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder in ("components", "pipeline", "ctr_models", "data"):
        for dirpath, _, names in os.walk(os.path.join(repo, folder)):
            for name in names:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                tree = ast.parse(open(path).read())
                for node in ast.walk(tree):
                    called = node.func if isinstance(node, ast.Call) else None
                    label = (called.id if isinstance(called, ast.Name) else
                             f"{getattr(called.value, 'id', '')}.{called.attr}"
                             if isinstance(called, ast.Attribute) else "")
                    if label in ("eval", "exec", "pickle.load", "pickle.loads",
                                 "yaml.load", "yaml.unsafe_load"):
                        offenders.append(f"{os.path.relpath(path, repo)}:{node.lineno} {label}")
    assert not offenders, offenders


def test_spec_sample_cannot_escape_the_samples_folder():
    for sample in ("../specs/criteo.yaml", "/etc/passwd", ".."):
        with pytest.raises(SpecError, match="sample: must be a file name in data/samples"):
            DatasetSpec.from_dict({**BASE, "sample": sample})


# -- one small pipeline run: CRLF input with odd dense values; serving through the pushed model --

ODD_DENSE = {"I1": "inf", "I2": "-inf", "I3": "nan", "I4": "1e300", "I5": "-5"}


def run_odd_values(folder):
    """`run_pipeline` (pre-flight checks included) on 1,500 generated rows with CRLF line endings
    where every 7th row has inf / -inf / nan / 1e300 / a negative count in dense cells; a spec copy
    whose gates always bless (5 training steps), so that a model is pushed."""
    import argparse
    import csv

    from data.generators import write_criteo
    from pipeline.options import add_run_args, run_options
    from pipeline.run import run_pipeline
    root = pathlib.Path(folder)
    write_criteo(str(root / "gen"), rows=1500, seed=5)
    with open(root / "gen" / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    for row in rows[1::7]:
        for name, value in ODD_DENSE.items():
            row[header.index(name)] = value
    data = root / "odd.csv"
    data.write_bytes("".join(",".join(r) + "\r\n" for r in rows).encode())
    spec_path = root / "odd.yaml"
    spec_path.write_text(yaml.safe_dump({**BASE, "name": "odd", "slices": [], "evaluation": {
        "auc_threshold": 0.0, "auc_change_threshold": -1.0}}))
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    options = run_options(parser.parse_args([
        "--dataset", str(spec_path), "--data", str(data), "--root", str(root / "run"),
        "--train-steps", "5", "--epochs", "1", "--batch-size", "64", "--eval-steps", "2",
        "--beam-mode", "in_memory", "--model-arg", "dnn_hidden_units=(8,)"]))
    report = run_pipeline(options)
    return header, rows[1:], report


# in a process of its own beside the other tests (tests/background_runs.py)
register_background_run("odd_run", in_a_subprocess(run_odd_values))


@pytest.fixture(scope="module")
def odd_run(background):
    return background.result("odd_run")


def _example(report, header, row, **overrides):
    """A raw tf.Example from a CSV row, typed by the raw schema exported beside the model (as
    `predict` does); a bytes override is written as a bytes feature whatever the schema says."""
    import tensorflow as tf

    from components.raw_examples import RowEncoder, load_raw_schema
    cells = dict(zip(header, row), **{k: v for k, v in overrides.items()
                                       if not isinstance(v, bytes)})
    example = tf.train.Example.FromString(RowEncoder(load_raw_schema(report.pushed_model),
                                                     "request").encode(cells, 2))
    for name, value in overrides.items():
        if isinstance(value, bytes):
            example.features.feature[name].CopyFrom(
                tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])))
    return example.SerializeToString()


@pytest.fixture(scope="module")
def serve(odd_run):
    import tensorflow as tf
    _, _, report = odd_run
    assert report.pushed_model, report.format()
    signature = tf.saved_model.load(report.pushed_model).signatures["serving_default"]
    return lambda examples: signature(examples=tf.constant(examples, tf.string))["prediction"]


@pytest.mark.pipeline
def test_inf_nan_and_1e300_in_training_data_give_a_finite_evaluation(odd_run):
    _, _, report = odd_run
    assert {c.state for c in report.components} == {"COMPLETE"}, report.format()
    assert math.isfinite(report.overall["auc"]) and math.isfinite(
        report.overall["binary_crossentropy"]), report.overall
    assert report.blessed and os.path.isdir(report.pushed_model)


@pytest.mark.pipeline
def test_odd_dense_values_at_serving_score_like_missing_ones(odd_run, serve):
    header, rows, report = odd_run
    row = rows[0]
    odd = [_example(report, header, row, **{name: value}) for name, value in ODD_DENSE.items()
           if name != "I5"]
    missing = [_example(report, header, row, **{name: ""}) for name in ODD_DENSE if name != "I5"]
    odd_scores, missing_scores = serve(odd).numpy(), serve(missing).numpy()
    assert np.isfinite(odd_scores).all() and ((odd_scores > 0) & (odd_scores < 1)).all()
    # non-finite -> fill_value, the same as a missing cell (1e300 is +inf as a float32)
    np.testing.assert_allclose(odd_scores, missing_scores, rtol=1e-6)
    assert np.isfinite(serve([_example(report, header, row, I5="-5"),
                              _example(report, header, row, I1="3e38")])).all()


@pytest.mark.pipeline
def test_unseen_categories_and_missing_features_at_serving(odd_run, serve):
    header, rows, report = odd_run
    row = rows[0]
    unseen = serve([_example(report, header, row, C3="never-seen-1"),
                    _example(report, header, row, C3="never-seen-2")]).numpy()
    assert unseen[0] == unseen[1]  # both C3's out-of-vocabulary id
    empty = serve([b""]).numpy()  # an empty tf.Example: every feature missing
    assert empty.shape == (1, 1) and 0 < empty[0, 0] < 1


@pytest.mark.pipeline
def test_serving_errors_are_clear_and_the_model_keeps_serving(odd_run, serve):
    import tensorflow as tf
    header, rows, report = odd_run
    assert serve([]).numpy().shape == (0, 1)  # an empty batch: no rows, no error
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Key: I1, Index: 0\. +Data types "
                                                             r"don't match"):
        serve([_example(report, header, rows[0], I1=b"text")])
    with pytest.raises(tf.errors.InvalidArgumentError, match="Could not parse example input"):
        serve([b"not a tf.Example"])
    assert serve([_example(report, header, rows[0])]).numpy().shape == (1, 1)  # still serving


@pytest.mark.pipeline
def test_predict_names_the_row_and_field_of_bad_input(odd_run, tmp_path):
    from pipeline.predict import InputError, predict_csv
    header, rows, report = odd_run
    bad = [list(r) for r in rows[:4]]
    bad[2][header.index("I2")] = "abc"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(",".join(r) for r in [header] + bad) + "\n")
    with pytest.raises(InputError, match=r"bad.csv row 4, field I2: 'abc' is not a number"):
        predict_csv(report.pushed_model, str(path), str(tmp_path / "out.csv"), progress=None)
    good = tmp_path / "good.csv"
    good.write_text("\r\n".join(",".join(r) for r in [header] + rows[:5]) + "\r\n")
    assert predict_csv(report.pushed_model, str(good), str(tmp_path / "out.csv"),
                       progress=None) == 5


# -- CLI: `error: <message>`, no traceback (unless --verbose), non-zero exit --------------------

def test_cli_spec_error_is_one_line_and_verbose_adds_the_traceback(tmp_path):
    from cli_testing import run_cli
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nlabls: []\n")
    code, output = run_cli("run", "--dataset", str(spec))
    assert code == 2, output
    assert output.strip().splitlines() == [
        f"error: {spec}: <top level>: unknown keys ['labls'] (did you mean 'labels'?); allowed: "
        f"['behaviour', 'columns', 'dense', 'dense_defaults', 'description', 'drift', "
        f"'evaluation', 'format', 'labels', 'multi_value', 'multi_value_defaults', 'name', "
        f"'sample', 'slices', 'sparse', 'sparse_defaults', 'split']"], output
    code, output = run_cli("run", "--dataset", str(spec), "--verbose")
    assert code == 2 and "Traceback" in output and output.strip().splitlines()[-1].startswith(
        f"error: {spec}: <top level>: unknown keys"), output


def test_cli_bad_csv_and_misspelt_model_arg_stop_before_any_component(tmp_path):
    from cli_testing import run_cli
    rows = _rows()
    rows[41][0] = "2"
    data = _csv(tmp_path / "a.csv", rows)
    root = tmp_path / "run"
    code, output = run_cli("run", "--data", data, "--root", str(root))
    assert code == 2 and "Traceback" not in output, output
    assert output.strip().splitlines()[-1] == (
        f"error: {data}: 1 of 200 rows have a label that cannot be trained on: field label is "
        f"outside the binary label's domain {{0, 1}} (use binary_threshold or mapping in the "
        f"spec to derive 0/1 from it) (first: row 43, value '2'); drop or fix these rows"), output
    rows[41][0] = "1"
    _csv(tmp_path / "a.csv", rows)
    code, output = run_cli("run", "--data", data, "--root", str(root), "--model-arg",
                           "dnn_hiden_units=(8,)")
    assert code == 2 and "Traceback" not in output, output
    assert re.search(r"^error: --model-arg dnn_hiden_units: DeepFM has no argument "
                     r"'dnn_hiden_units'; did you mean 'dnn_hidden_units'\?", output, re.M), output
    assert not (root / "pipeline_root").exists()  # no component ran


def test_predict_reader_names_the_row_of_unbalanced_quotes(tmp_path):
    from pipeline.predict import InputError, read_batches

    class Encoder:  # the reader's part only: the schema's columns and a trivial encoding
        def check_header(self, header):
            pass

        def encode(self, row, row_number):
            return b"x"

    path = tmp_path / "rows.csv"
    path.write_text('a,b\n1,2\n3,"4\n5,6\n')
    with pytest.raises(InputError, match=re.escape(f"{path} row 3: unbalanced quotes")):
        list(read_batches(str(path), Encoder(), 10))
    path.write_text('a,b\r\n1,2\r\n3,"4\r\n5"\r\n')  # CRLF, and a quoted cell over two lines
    assert [len(b) for b in read_batches(str(path), Encoder(), 10)] == [2]
