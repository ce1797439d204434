import numpy as np
import pytest

from ctr_models.feature_column import SparseFeat
from ctr_models.models import DeepFM
from model_harness import check_model, feature_columns, reset


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_deepfm_trains_and_round_trips(tmp_path, task):
    reset()
    linear, dnn = feature_columns()
    check_model(DeepFM(linear, dnn, dnn_hidden_units=(16, 8), task=task), dnn, tmp_path, task=task)


def test_deepfm_fm_only_and_groups(tmp_path):
    reset()
    linear, dnn = feature_columns(sparse=4, group_names=["a", "a", "b", "b"], varlen=0)
    model = DeepFM(linear, dnn, fm_group=["a", "b"], dnn_hidden_units=())
    check_model(model, dnn, tmp_path)


def test_deepfm_fm_group_as_string_is_exact_name():
    reset()
    linear, dnn = feature_columns(sparse=2, group_names=["ab", "a"], varlen=0, dense=0)
    # "a" must not match group "ab" by substring: exactly one FM layer, over group "a" only.
    model = DeepFM(linear, dnn, fm_group="a", dnn_hidden_units=(4,))
    assert sum(layer.__class__.__name__ == "FM" for layer in model.layers) == 1


def test_deepfm_unequal_dims_in_fm_group_raise():
    cols = [SparseFeat("a", 10, embedding_dim=4), SparseFeat("b", 10, embedding_dim=8)]
    with pytest.raises(ValueError, match="'a'.*'b'|dim 4.*dim 8"):
        DeepFM(cols, cols)


def test_deepfm_single_gather():
    reset()
    linear, dnn = feature_columns(sparse=5, varlen=2)
    model = DeepFM(linear, dnn, dnn_hidden_units=(4,))
    emb_layers = [layer for layer in model.layers if layer.__class__.__name__ == "FusedEmbedding"]
    # one table for the embeddings, one for the linear weights
    assert len(emb_layers) == 2
    assert {tuple(layer.embeddings.shape) for layer in emb_layers} == {(140, 4), (140, 1)}


def test_deepfm_with_only_dense_features_has_no_fm_branch_and_reloads(tmp_path):
    """DeepCTR fixed this in #555 (0.9.4 added a constant 0 as the FM logit, which broke
    loading an .h5 of it); ours never built the branch: a regression test. The logit is the
    linear one plus the DNN's."""
    import tf_keras as keras
    from ctr_models.feature_column import DenseFeat
    from ctr_models.layers import custom_objects
    reset()
    columns = [DenseFeat("d0", 1), DenseFeat("d1", 1)]
    model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    assert "FM" not in [type(layer).__name__ for layer in model.layers]
    assert not [layer for layer in model.layers if type(layer).__name__ == "Lambda"]
    x = {"d0": np.linspace(-1, 1, 8, dtype="float32")[:, None],
         "d1": np.linspace(2, 0, 8, dtype="float32")[:, None]}
    path = str(tmp_path / "dense_only.h5")
    model.save(path)
    reloaded = keras.models.load_model(path, custom_objects)
    np.testing.assert_allclose(reloaded(x, training=False).numpy(),
                               model(x, training=False).numpy(), rtol=0, atol=1e-6)
