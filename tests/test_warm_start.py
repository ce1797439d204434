"""Warm start across recomputed vocabularies: rows follow tokens, not ids (no pipeline run)."""
import numpy as np
import pytest
import tf_keras as keras

from components.dataset_spec import load_spec
from components.model_builder import build_model, feature_columns
from components.warm_start import LayoutMismatch, plan_copy, row_map, warm_start_from
from ctr_models.layers.embedding import FusedEmbedding

MODEL_ARGS = {"dnn_hidden_units": (8,), "seed": 3}
# Transform's vocabulary files, most frequent first: on the new span "C1=b" became the most
# frequent token, "C2=gone" left, "C1=new" arrived.
OLD_TOKENS = ["C1=a", "C1=b", "C2=x", "C2=gone", "C3=q"]
NEW_TOKENS = ["C1=b", "C2=x", "C1=new", "C1=a", "C3=q"]


def _model(spec, tokens, model="DeepFM", args=MODEL_ARGS):
    sizes = {group: 1 + len(members) + len(tokens)
             for group, members in spec.vocab_groups().items()}
    linear, dnn = feature_columns(spec, sizes)
    return build_model(model, spec, linear, dnn, dict(args))


def _tables(model):
    """{table name: [rows, dim] array} of the model's fused embedding layers."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, FusedEmbedding):
            value = layer.embeddings.numpy()
            for name, start, rows in zip(layer.table_names, layer._offsets, layer.table_sizes):
                out[name] = value[start:start + rows]
    return out


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A 'pushed' model trained on the old vocabulary: random weights everywhere (so a copied row
    cannot match by accident), saved as a SavedModel."""
    spec = load_spec("criteo")
    model = _model(spec, OLD_TOKENS)
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(size=weight.shape).astype(weight.dtype.as_numpy_dtype))
    model_dir = str(tmp_path_factory.mktemp("pushed") / "1700000000")
    model.save(model_dir, save_format="tf")
    config = {"model_dir": model_dir, "model": "DeepFM", "model_args": dict(MODEL_ARGS),
              "spec": spec.to_dict(), "source": "v1"}
    return spec, model, config


def test_row_map_follows_tokens():
    # 3 reserved ids (padding + 2 OOV): token i sits at row 3 + i
    rows = row_map(["a", "b", "c"], ["c", "z", "a"], reserved=3)
    np.testing.assert_array_equal(rows, [0, 1, 2, 5, -1, 3])


def test_embedding_rows_move_with_their_tokens(previous):
    spec, old_model, config = previous
    new_model = _model(spec, NEW_TOKENS)
    fresh = _tables(new_model)
    summary = warm_start_from(new_model, spec, {"ids": NEW_TOKENS}, config, "DeepFM",
                              dict(MODEL_ARGS), {"ids": OLD_TOKENS})
    assert summary["warm_started"], summary
    assert summary["tokens"]["ids"] == {"kept": 4, "new": 1, "dropped": 1}
    old, new = _tables(old_model), _tables(new_model)
    reserved = 1 + len(spec.sparse)
    assert set(new) == {"ids", "linear_ids"}
    for table in ("ids", "linear_ids"):
        # padding and the per-feature OOV rows keep their ids
        np.testing.assert_array_equal(new[table][:reserved], old[table][:reserved])
        for token in ("C1=a", "C1=b", "C2=x", "C3=q"):
            old_id, new_id = reserved + OLD_TOKENS.index(token), reserved + NEW_TOKENS.index(token)
            np.testing.assert_array_equal(new[table][new_id], old[table][old_id])
        # "C1=a" moved from row reserved+0 to reserved+3: the row did not stay behind
        assert not np.array_equal(new[table][reserved], old[table][reserved])
        # a new token keeps its fresh initial row
        new_token = reserved + NEW_TOKENS.index("C1=new")
        np.testing.assert_array_equal(new[table][new_token], fresh[table][new_token])
    # every non-embedding weight is the pushed model's
    for old_w, new_w in zip(old_model.weights, new_model.weights):
        if "emb" not in new_w.name:
            np.testing.assert_array_equal(new_w.numpy(), old_w.numpy())


def test_a_different_model_trains_fresh_with_a_reason(previous, caplog):
    spec, _, config = previous
    new_model = _model(spec, NEW_TOKENS, args={"dnn_hidden_units": (16,), "seed": 3})
    before = [w.numpy() for w in new_model.weights]
    summary = warm_start_from(new_model, spec, {"ids": NEW_TOKENS}, config, "DeepFM",
                              {"dnn_hidden_units": (16,), "seed": 3}, {"ids": OLD_TOKENS})
    assert not summary["warm_started"]
    assert "model arguments differ" in summary["reason"]
    assert "training a fresh model" in caplog.text
    for b, w in zip(before, new_model.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_a_changed_weight_shape_is_a_layout_mismatch(previous):
    spec, old_model, _ = previous
    other = _model(spec, OLD_TOKENS, args={"dnn_hidden_units": (16,), "seed": 3})
    with pytest.raises(LayoutMismatch, match="shape"):
        plan_copy(old_model, other, {"ids": row_map(OLD_TOKENS, OLD_TOKENS, 27)})


def test_pushed_weights_of_another_layout_under_the_same_name_train_fresh(previous, tmp_path):
    """A version pushed by code that built the model differently (0.9.4's FNN had a linear
    logit: exactly WDL's weights) is refused as a whole, never half restored."""
    spec, _, config = previous
    old_layout = _model(spec, OLD_TOKENS, model="WDL")
    model_dir = str(tmp_path / "1700000001")
    old_layout.save(model_dir, save_format="tf")
    fnn_config = dict(config, model="FNN", model_dir=model_dir)
    new_model = _model(spec, NEW_TOKENS, model="FNN")
    before = [w.numpy() for w in new_model.weights]
    summary = warm_start_from(new_model, spec, {"ids": NEW_TOKENS}, fnn_config, "FNN",
                              dict(MODEL_ARGS), {"ids": OLD_TOKENS})
    assert not summary["warm_started"]
    assert "do not match the layout" in summary["reason"], summary
    for b, w in zip(before, new_model.weights):
        np.testing.assert_array_equal(b, w.numpy())
