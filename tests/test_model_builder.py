"""Every registered model can be built by the pipeline's Trainer from a dataset spec."""
import inspect

import numpy as np
import pytest
import tf_keras as keras

from components.dataset_spec import DatasetSpec
from components.model_builder import build_model, feature_columns
from pipeline.options import parse_model_args
from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from ctr_models.models import MODEL_NAMES, get_model_fn

SPEC = DatasetSpec.from_dict({
    "name": "tiny",
    "labels": [{"name": "label", "column": "clicked"}],
    "dense": ["I1", "I2"],
    "sparse": ["C1", "C2",
               {"name": "C3", "group": "item"},
               {"name": "H", "encoding": "hash", "hash_buckets": 16, "group": "item"}],
    "multi_value": [{"name": "genres", "max_length": 3, "group": "item"}],
})
SIZES = {"ids": 30}
ZOO = ["AFM", "AutoInt", "CCPM", "DCN", "DCNMix", "DeepFEFM", "DeepFM", "DIFM", "EDCN", "FGCNN",
       "FiBiNET", "FLEN", "FNN", "FwFM", "IFM", "MLR", "NFM", "ONN", "PNN", "WDL", "xDeepFM"]
# Built from behaviour-log and multi-label specs; their pipeline tests cover the builder.
SEQUENCE_MODELS = ["BST", "DIEN", "DIN", "DSIN"]
MULTITASK_MODELS = ["ESMM", "MMOE", "PLE", "SharedBottom"]


def test_registry_has_the_whole_zoo():
    everything = ZOO + SEQUENCE_MODELS + MULTITASK_MODELS
    assert sorted(MODEL_NAMES, key=str.lower) == sorted(everything, key=str.lower)
    assert get_model_fn("deepfm") is get_model_fn("DeepFM")
    with pytest.raises(ValueError, match="Unknown model 'NoSuchNet'.*DeepFM"):
        get_model_fn("NoSuchNet")


def test_columns_come_from_spec_and_transform_sizes():
    linear, dnn = feature_columns(SPEC, SIZES)
    by_name = {fc.name: fc for fc in dnn}
    assert by_name["C1"].vocabulary_size == 30 and by_name["C1"].embedding_name == "ids"
    assert by_name["C3"].embedding_name == "ids" and by_name["C3"].group_name == "item"
    assert by_name["C1"].group_name == "default_group"
    assert by_name["H"].vocabulary_size == 16 and by_name["H"].embedding_name == "H"
    assert isinstance(by_name["genres"], VarLenSparseFeat) and by_name["genres"].maxlen == 3
    assert isinstance(by_name["I1"], DenseFeat)
    assert all(fc.dtype == "int64" for fc in dnn if isinstance(fc, (SparseFeat, VarLenSparseFeat)))


def test_parse_model_args():
    assert parse_model_args(["dnn_hidden_units=(64, 32)", "cross_parameterization=matrix",
                             "dnn_dropout=0.1", "use_bn=True"]) == {
        "dnn_hidden_units": (64, 32), "cross_parameterization": "matrix", "dnn_dropout": 0.1,
        "use_bn": True}
    with pytest.raises(ValueError, match="key=value"):
        parse_model_args(["oops"])


def test_unknown_model_arg_is_named():
    linear, dnn = feature_columns(SPEC, SIZES)
    with pytest.raises(ValueError, match=r"DeepFM has no argument\(s\) \['cross_num'\]"):
        build_model("DeepFM", SPEC, linear, dnn, {"cross_num": 2})


def _small_args(name):
    params = inspect.signature(get_model_fn(name)).parameters
    args = {}
    for key, value in (("dnn_hidden_units", (8,)), ("conv_filters", (2, 2)),
                       ("conv_kernel_width", (2, 2)), ("new_maps", (1, 1)),
                       ("pooling_width", (1, 1)), ("cin_layer_size", (4, 4)),
                       ("att_head_num", 2), ("att_embedding_size", 2)):
        if key in params:
            args[key] = value
    if name == "FGCNN":
        args["conv_kernel_width"] = (2, 2)
    return args


def _batch(columns, n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = {}
    for fc in columns:
        if isinstance(fc, DenseFeat):
            x[fc.name] = rng.random((n, 1)).astype("float32")
        elif isinstance(fc, VarLenSparseFeat):
            x[fc.name] = rng.integers(0, fc.vocabulary_size, (n, fc.maxlen)).astype("int64")
        else:
            x[fc.name] = rng.integers(1, fc.vocabulary_size, (n, 1)).astype("int64")
    return x, rng.integers(0, 2, (n, 1)).astype("float32")


@pytest.mark.parametrize("name", ZOO)
def test_every_model_builds_from_the_spec_and_trains_a_step(name):
    keras.backend.clear_session()
    linear, dnn = feature_columns(SPEC, SIZES)
    model = build_model(name, SPEC, linear, dnn, _small_args(name))
    x, y = _batch(dnn)
    model.compile("adam", "binary_crossentropy")
    model.fit({i.name: x[i.name] for i in model.inputs}, y, batch_size=32, epochs=1, verbose=0)
    pred = model.predict({i.name: x[i.name] for i in model.inputs}, verbose=0)
    assert pred.shape == (64, 1) and np.all((pred >= 0) & (pred <= 1))


def test_embedding_init_std_sets_the_table_initializer():
    raw = {"name": "tiny_init", "labels": [{"name": "label", "column": "clicked"}],
           "sparse": ["C1", "C2"], "multi_value": [{"name": "hist_C1", "vocab_of": "C1"}]}
    spec = DatasetSpec.from_dict(
        {**raw, "sparse_defaults": {"embedding_init_std": 0.5, "embedding_dim": 8}})
    linear, dnn = feature_columns(spec, {"ids": 4000})
    model = build_model("DeepFM", spec, linear, dnn)
    tables = [w for w in model.weights if len(w.shape) == 2 and w.shape[0] == 4000
              and w.shape[1] == 8]
    assert len(tables) == 1  # one table for the vocab group, DNN side
    assert np.std(tables[0].numpy()) == pytest.approx(0.5, rel=0.05)
    default_spec = DatasetSpec.from_dict(raw)
    assert all(fc.embeddings_initializer is None
               for fc in feature_columns(default_spec, {"ids": 4000})[1]
               if isinstance(fc, (SparseFeat, VarLenSparseFeat)))


@pytest.mark.parametrize("sparse, message", [
    ([{"name": "C1", "embedding_init_std": -1}], "embedding_init_std must be a positive"),
    ([{"name": "C1", "embedding_init_std": 0.1}, "C2"], "agree on frequency_threshold, top_k "
                                                        "and embedding_init_std"),
])
def test_bad_embedding_init_std_is_named(sparse, message):
    with pytest.raises(ValueError, match=message):
        DatasetSpec.from_dict({"name": "bad", "labels": [{"name": "label", "column": "y"}],
                               "sparse": sparse})
