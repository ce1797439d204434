"""Multi-task units without a pipeline: spec keys for several labels, label mappings in
preprocessing_fn, outputs matched by name, per-task training summary, the generators and the
headerless CSV reader."""
import functools
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from sklearn.metrics import roc_auc_score
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.dataset_spec import DatasetSpec, SpecError, load_spec, spec_from_config
from components.transform import preprocessing_fn
from data_testing import ABS_TOL, REL_TOL, assert_same_csv, assert_same_values

SPEC = {
    "name": "mtl",
    "labels": [
        {"name": "income", "column": "income_50k", "mapping": {" 50000+.": 1, "- 50000.  ": 0},
         "auc_threshold": 0.7, "loss_weight": 2.0},
        {"name": "never_married", "column": "marital", "mapping": {"Never married": 1},
         "unmapped": 0, "auc_change_threshold": -0.05},
        {"name": "spend", "column": "spend", "task": "regression", "max_mse": 3.0},
    ],
    "dense": ["age"],
    "sparse": ["sex"],
    "evaluation": {"auc_threshold": 0.55, "auc_change_threshold": -0.01},
}


def _spec(**changes):
    return DatasetSpec.from_dict(dict(SPEC, **changes), source="mtl.yaml")


def _label(**fields):
    return _spec(labels=[dict(SPEC["labels"][0], **fields)])


# -- spec ----------------------------------------------------------------------------------------

def test_labels_keep_their_keys_and_gates_fall_back_to_evaluation():
    spec = _spec()
    income, married, spend = spec.labels
    assert income.mapping == {"50000+.": 1.0, "- 50000.": 0.0}  # keys stripped
    assert income.unmapped is None and married.unmapped == 0.0
    assert income.loss_weight == 2.0 and married.loss_weight == 1.0
    assert spec.gate(income).auc_threshold == 0.7
    assert spec.gate(income).auc_change_threshold == -0.01  # from `evaluation`
    assert spec.gate(married).auc_threshold == 0.55
    assert spec.gate(married).auc_change_threshold == -0.05
    assert spec.gate(spend).max_mse == 3.0 and spec.gate(spend).mse_relative_change == 0.01
    assert spec_from_config(json.loads(json.dumps(spec.to_dict()))) == spec


def test_existing_single_label_specs_keep_their_gate():
    spec = load_spec("criteo")
    assert spec.gate(spec.labels[0]) == spec.evaluation
    assert spec.columns is None


@pytest.mark.parametrize("fields, message", [
    ({"task": "regression"}, r"labels\.income\.auc_threshold: does not apply to task: regression"),
    ({"max_mse": 1.0}, r"labels\.income\.max_mse: does not apply to task: binary"),
    ({"loss_weight": -1}, r"labels\.income\.loss_weight: must be >= 0"),
    ({"loss_weight": "high"}, r"labels\.income\.loss_weight: must be a number"),
    ({"mapping": {"a": 1, " a ": 0}}, r"labels\.income\.mapping: ' a ' repeats 'a'"),
    ({"mapping": {"a": 2}}, r"labels\.income\.mapping: a binary label maps to 0 or 1"),
    ({"mapping": {"a": "yes"}}, r"labels\.income\.mapping: value of 'a' must be a number"),
    ({"mapping": []}, r"labels\.income\.mapping: must map column values to numbers"),
    ({"mapping": None, "unmapped": 0}, r"labels\.income\.unmapped: only applies together with"),
    ({"binary_threshold": 1}, r"labels\.income: give either mapping or binary_threshold"),
    ({"weight": 1}, r"labels\.income: unknown keys \['weight'\]"),
])
def test_label_errors_name_file_and_field(fields, message):
    with pytest.raises(SpecError, match="^mtl.yaml: " + message):
        _label(**fields)


def test_columns_for_files_without_header():
    spec = _spec(columns=["age", "sex", "income_50k", "marital", "spend", "weight"])
    assert spec.columns == ("age", "sex", "income_50k", "marital", "spend", "weight")
    with pytest.raises(SpecError, match=r"^mtl.yaml: columns: lacks \['spend'\]"):
        _spec(columns=["age", "sex", "income_50k", "marital"])
    with pytest.raises(SpecError, match=r"^mtl.yaml: columns: duplicate names \['age'\]"):
        _spec(columns=["age", "age", "sex", "income_50k", "marital", "spend"])
    with pytest.raises(SpecError, match=r"^mtl.yaml: columns: must be a list"):
        _spec(columns="age,sex")


def test_shipped_multitask_specs():
    mtl = load_spec("multitask")
    assert mtl.label_names == ["click", "purchase"] and mtl.sample == "multitask_2k.csv"
    census = load_spec("census_income")
    assert len(census.columns) == 42 and "instance_weight" not in census.raw_columns
    assert census.labels[0].mapping == {"50000+.": 1.0, "- 50000.": 0.0}


# -- Transform -----------------------------------------------------------------------------------

RAW_SPEC = {"income_50k": tf.io.FixedLenFeature([], tf.string),
            "marital": tf.io.FixedLenFeature([], tf.string),
            "spend": tf.io.FixedLenFeature([], tf.float32),
            "age": tf.io.VarLenFeature(tf.int64), "sex": tf.io.VarLenFeature(tf.string)}
ROWS = [(" 50000+.", " Never married", 1.5), (" - 50000.", " Divorced", 0.0),
        ("- 50000.", "Never married ", 2.0), (" 50000+.", "", 4.0), ("", "Widowed", 1.0)]


def _transform(spec, rows, tmp_path, out_dir=None):
    data = [{"income_50k": i, "marital": m, "spend": s, "age": [30], "sex": ["F"]}
            for i, m, s in rows]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    fn = functools.partial(preprocessing_fn, custom_config={"spec": spec.to_dict()})
    with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=True):  # as the pipeline
        (out, _), transform_fn = (data, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        if out_dir:
            _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return out


def test_label_mapping_is_applied_in_graph(tmp_path):
    import tensorflow_transform as tft
    out = _transform(_spec(), ROWS, tmp_path / "tmp", str(tmp_path / "tft"))
    income = [float(r["income"][0]) for r in out]
    assert income[:4] == [1, 0, 0, 1] and np.isnan(income[4])  # empty cell: missing label
    assert [float(r["never_married"][0]) for r in out] == [1, 0, 1, 0, 0]  # '' -> unmapped 0
    np.testing.assert_allclose([float(r["spend"][0]) for r in out], [1.5, 0, 2, 4, 1])
    # serving requests carry no label columns: the mapping must not fail there
    layer = tft.TFTransformOutput(str(tmp_path / "tft")).transform_features_layer()
    served = layer({"age": tf.sparse.from_dense(tf.constant([[30]], tf.int64)),
                    "sex": tf.sparse.from_dense(tf.constant([["F"]]))})
    assert "age" in served


def test_unmapped_value_without_default_fails_naming_the_label(tmp_path):
    with pytest.raises(Exception, match=r"label .{1,2}income.{1,2}: column .{1,2}income_50k"
                                        r".{1,2} has a value outside its mapping.*1000000"):
        _transform(_spec(), ROWS + [(" 1000000", "Divorced", 1.0)], tmp_path)


# -- Trainer pieces ------------------------------------------------------------------------------

def _two_output_model(names):
    import tf_keras as keras
    x = keras.Input((1,), name="x")
    outputs = [keras.layers.Dense(1, activation="sigmoid", name=n)(x) for n in names]
    return keras.Model(x, outputs)


def test_serving_outputs_are_matched_by_model_output_name_not_position():
    from components.trainer import _outputs, check_outputs
    spec = _spec(labels=SPEC["labels"][:2])
    model = _two_output_model(["never_married", "income"])  # reverse of the spec's order
    check_outputs(model, spec)
    predictions = model(tf.constant([[1.0]]))
    served = _outputs(model, predictions, spec)
    assert served["never_married"] is predictions[0] and served["income"] is predictions[1]
    with pytest.raises(ValueError, match=r"need one model output named after each.*'ctr'"):
        check_outputs(_two_output_model(["ctr", "income"]), spec)


def test_loss_weights_and_per_task_summary():
    from components.trainer import compile_model, task_summary
    spec = _spec(labels=SPEC["labels"][:2])
    model = _two_output_model(["income", "never_married"])
    compile_model(model, spec, 1e-2)
    model.run_eagerly = True  # no tracing: this test is about the losses, not speed
    assert model.compiled_loss._loss_weights == {"income": 2.0, "never_married": 1.0}
    x = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    y = {"income": np.array([0, 0, 1, 1.0]), "never_married": np.array([1, 0, 1, 0.0])}
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0).history
    tasks = task_summary(history, spec)
    assert set(tasks) == {"income", "never_married"}
    for name, entry in tasks.items():
        assert entry["train_loss"] == history[f"{name}_loss"][-1]
        assert entry["validation_auc"] == history[f"val_{name}_auc"][-1]
    # total loss = 2 * income loss + 1 * never_married loss
    np.testing.assert_allclose(history["loss"][-1], 2 * history["income_loss"][-1]
                               + history["never_married_loss"][-1], rtol=1e-5)


# -- generators ----------------------------------------------------------------------------------

def test_multitask_generator_is_deterministic_with_consistent_labels_and_oracle():
    from data.multitask import MULTITASK_COLUMNS, generate_multitask
    df, info = generate_multitask(5000, seed=4, return_probability=True)
    again, _ = generate_multitask(5000, seed=4)
    assert list(again.columns) == MULTITASK_COLUMNS
    assert df[MULTITASK_COLUMNS].equals(again)
    assert not generate_multitask(5000, seed=5)[0].equals(again)
    assert (df.purchase <= df.click).all() and df.purchase.sum() > 200  # no purchase w/o click
    tasks = info["tasks"]
    # tolerance of tests/data_testing.py: an AUC recomputed from the frame's float columns
    assert tasks["click"]["oracle_auc"] == pytest.approx(
        roc_auc_score(df.click, df.p_click), rel=REL_TOL, abs=ABS_TOL)
    assert tasks["purchase"]["oracle_auc"] == pytest.approx(
        roc_auc_score(df.purchase, df.p_click * df.p_cvr), rel=REL_TOL, abs=ABS_TOL)
    assert 0.75 < tasks["click"]["oracle_auc"] < 0.9 and 0.75 < tasks["purchase"]["oracle_auc"]
    # the planted probabilities can be recomputed from the written columns (eval-split oracle)
    from data.multitask import multitask_probability
    p_click, p_cvr = multitask_probability(again, model_seed=4)
    np.testing.assert_allclose(p_click, df.p_click, rtol=1e-12)
    np.testing.assert_allclose(p_cvr, df.p_cvr, rtol=1e-12)
    # purchase has drivers of its own: price moves purchases, not clicks
    cheap = df.price < df.price.median()
    assert df.p_cvr[cheap].mean() - df.p_cvr[~cheap].mean() > 0.05
    assert abs(df.p_click[cheap].mean() - df.p_click[~cheap].mean()) < 0.02


def test_committed_multitask_sample_matches_the_generator(tmp_path):
    """Floats (price, the oracle's rates, log losses and AUCs) within the tolerance stated in
    tests/data_testing.py: another CPU sums in another order (0.10577887626442553 vs ...552);
    labels, ids, categories, empty cells and the oracle's keys, counts and path exactly."""
    from data.generators import SAMPLES_DIR
    from data.multitask import write_multitask
    fresh = write_multitask(str(tmp_path), 2000, 0, file_name="multitask_2k.csv",
                            oracle_name="multitask_2k.oracle.json")
    assert_same_csv(fresh["path"], f"{SAMPLES_DIR}/multitask_2k.csv")
    with open(f"{SAMPLES_DIR}/multitask_2k.oracle.json") as f:
        committed = json.load(f)
    with open(tmp_path / "multitask_2k.oracle.json") as f:
        assert_same_values(json.load(f), committed)
    assert committed["rows"] == 2000 and committed["path"] == "multitask_2k.csv"


def test_census_generator_writes_the_raw_headerless_layout(tmp_path):
    from data.census import CENSUS_COLUMNS, write_census
    info = write_census(str(tmp_path), 400, seed=1)
    text = (tmp_path / "census-income.sample").read_text()
    # one process, one CPU: exactly the same (the committed samples get a tolerance, not this)
    assert write_census(str(tmp_path / "again"), 400, seed=1)["tasks"] == info["tasks"]
    assert (tmp_path / "again" / "census-income.sample").read_text() == text
    lines = text.splitlines()
    assert len(lines) == 400 and len(CENSUS_COLUMNS) == 42
    cells = [line.split(",") for line in lines]
    assert {len(c) for c in cells} == {42}
    assert all(c.startswith(" ") for row in cells for c in row[1:])  # ", " separators
    income = {row[-1] for row in cells}
    assert income == {" - 50000.", " 50000+."}
    assert any(row[CENSUS_COLUMNS.index("marital_stat")] == " Never married" for row in cells)
    assert 0.85 < info["tasks"]["income"]["oracle_auc"] and 0.85 < info["tasks"][
        "never_married"]["oracle_auc"]


# -- headerless CSV ExampleGen -------------------------------------------------------------------

def test_headerless_reader_takes_column_names_from_the_spec(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that
    from components import headerless_csv
    from google.protobuf import json_format
    (tmp_path / "a.sample").write_text("73, Never married, 1.5\n\n18, Divorced, 2\n")
    config = headerless_csv.custom_config(["age", "marital", "weight"])
    props = {"input_base": str(tmp_path), "custom_config": json_format.MessageToJson(config)}

    def check(examples):
        rows = [{k: v for k, v in json_format.MessageToDict(tf.train.Example.FromString(e))[
            "features"]["feature"].items()} for e in examples]
        assert sorted(r["age"]["int64List"]["value"][0] for r in rows) == ["18", "73"]
        assert sorted(r["marital"]["bytesList"]["value"][0] for r in rows) == sorted(
            [json_format.MessageToDict(tf.train.BytesList(value=[v]))["value"][0]
             for v in (b" Never married", b" Divorced")])
        assert all("floatList" in r["weight"] for r in rows)

    with beam.Pipeline() as pipeline:
        examples = pipeline | headerless_csv._HeaderlessCsvToExample(props, "*.sample")
        assert_that(examples, check)
