"""ctr_models.optimizers: LazyAdam against a NumPy reference, Adam parity for dense gradients,
training, SavedModel and checkpoint round trips through the Trainer's compile_model;
make_dataset's cache."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from ctr_models.feature_column import DenseFeat, SparseFeat
from ctr_models.layers import custom_objects
from ctr_models.models import DeepFM
from ctr_models.optimizers import OPTIMIZER_NAMES, LazyAdam, get_optimizer

LR, B1, B2, EPS = 0.1, 0.9, 0.999, 1e-7


def lazy_adam_reference(w, steps):
    """NumPy lazy Adam: `steps` is a list of (rows, values) with possibly repeated rows, whose
    gradients add up; only the rows present in a step change."""
    w = w.astype(np.float64).copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, (rows, values) in enumerate(steps, start=1):
        grad = {}
        for r, g in zip(rows, values):
            grad[r] = grad.get(r, 0) + g
        alpha = LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        for r, g in grad.items():
            m[r] = B1 * m[r] + (1 - B1) * g
            v[r] = B2 * v[r] + (1 - B2) * g * g
            w[r] -= alpha * m[r] / (np.sqrt(v[r]) + EPS)
    return w


def _steps():
    rng = np.random.default_rng(0)
    # Row 3 appears twice in step 1 (gradients must add), row 0 only in step 1, row 5 never.
    rows = [[3, 0, 3, 1], [1, 2], [3, 4, 1]]
    return [(r, rng.standard_normal((len(r), 3)).astype("float32")) for r in rows]


def test_lazy_adam_matches_numpy_reference_for_sparse_gradients():
    w0 = np.random.default_rng(1).standard_normal((6, 3)).astype("float32")
    var = tf.Variable(w0)
    opt = LazyAdam(LR, beta_1=B1, beta_2=B2, epsilon=EPS)
    for rows, values in _steps():
        opt.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows),
                                               tf.constant([6, 3])), var)])
    np.testing.assert_allclose(var.numpy(), lazy_adam_reference(w0, _steps()), rtol=1e-5,
                               atol=1e-6)
    # Rows absent from a batch keep weights AND moments: row 0 (only in step 1) and row 5 (never).
    m = opt._momentums[0].numpy()
    assert np.all(m[5] == 0) and not np.allclose(var.numpy()[0], w0[0])
    assert np.array_equal(var.numpy()[5], w0[5])


def test_keras_adam_moves_rows_a_batch_did_not_read():
    """Why LazyAdam exists: tf_keras' Adam keeps moving row 0 after step 1 (its moment decays
    but stays non-zero), so its result differs from the lazy reference."""
    w0 = np.random.default_rng(1).standard_normal((6, 3)).astype("float32")
    var = tf.Variable(w0)
    opt = keras.optimizers.Adam(LR, beta_1=B1, beta_2=B2, epsilon=EPS)
    after_first = None
    for rows, values in _steps():
        opt.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows),
                                               tf.constant([6, 3])), var)])
        after_first = var.numpy()[0].copy() if after_first is None else after_first
    assert not np.allclose(var.numpy()[0], after_first)
    assert not np.allclose(var.numpy(), lazy_adam_reference(w0, _steps()), atol=1e-4)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_lazy_adam_equals_adam_for_dense_gradients(amsgrad):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((5, 4)).astype("float32")
    a, b = tf.Variable(w0), tf.Variable(w0)
    lazy, adam = LazyAdam(0.05, amsgrad=amsgrad), keras.optimizers.Adam(0.05, amsgrad=amsgrad)
    for _ in range(4):
        g = tf.constant(rng.standard_normal((5, 4)).astype("float32"))
        lazy.apply_gradients([(g, a)])
        adam.apply_gradients([(g, b)])
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_get_optimizer_by_name():
    assert isinstance(get_optimizer("lazy_adam", 0.01), LazyAdam)
    assert type(get_optimizer("Adam", 0.01)) is keras.optimizers.Adam
    assert float(get_optimizer("adagrad", 0.02).learning_rate) == pytest.approx(0.02)
    assert set(OPTIMIZER_NAMES) >= {"adam", "lazy_adam", "adagrad", "ftrl"}
    with pytest.raises(ValueError, match="'rmsprop'.*lazy_adam"):
        get_optimizer("rmsprop", 0.01)


def test_trainer_compile_with_lazy_adam_trains_and_round_trips(tmp_path):
    from components.trainer import compile_model
    keras.backend.clear_session()
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    n = 1024
    x = {"a": rng.integers(0, 50, (n, 1)), "b": rng.integers(0, 30, (n, 1)),
         "d": rng.random((n, 1)).astype("float32")}
    y = (rng.random((n, 1)) < 1 / (1 + np.exp(-(x["a"] % 7 - 3)))).astype("float32")
    columns = [SparseFeat("a", 60, 4, dtype="int64"), SparseFeat("b", 30, 4, dtype="int64"),
               DenseFeat("d", 1)]
    # No L2 on the tables: their gradients stay IndexedSlices, so the lazy path runs. Rows
    # 50-59 of table "a" are never read and must keep their initial values.
    model = DeepFM(columns, columns, dnn_hidden_units=(8,), l2_reg_linear=0, l2_reg_embedding=0)
    label = SimpleNamespace(name="label", task="binary", loss_weight=1.0)
    compile_model(model, SimpleNamespace(labels=[label], label_names=["label"]), 0.02,
                  optimizer="lazy_adam")
    assert isinstance(model.optimizer, LazyAdam)
    table = next(w for w in model.weights if w.name.startswith("emb_dim4"))
    unread = table.numpy()[50:60].copy()
    history = model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(table.numpy()[50:60], unread)
    pred = model.predict(x, batch_size=512, verbose=0)

    saved = str(tmp_path / "model")
    model.save(saved, save_format="tf")
    reloaded = keras.models.load_model(saved, custom_objects)
    assert isinstance(reloaded.optimizer, LazyAdam)
    np.testing.assert_allclose(reloaded.predict(x, batch_size=512, verbose=0), pred,
                               rtol=1e-5, atol=1e-6)
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(0.02)
    # tf_keras does not restore optimizer slots from a SavedModel (Adam neither); a TF checkpoint
    # does: one more step from the original and from a restored copy gives the same model.
    model.save_weights(str(tmp_path / "ckpt" / "weights"))
    restored = DeepFM(columns, columns, dnn_hidden_units=(8,), l2_reg_linear=0, l2_reg_embedding=0)
    compile_model(restored, SimpleNamespace(labels=[label], label_names=["label"]), 0.02,
                  optimizer="lazy_adam")
    restored.load_weights(str(tmp_path / "ckpt" / "weights"))
    batch = {k: v[:128] for k, v in x.items()}
    model.train_on_batch(batch, y[:128])
    restored.train_on_batch(batch, y[:128])
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations)
    np.testing.assert_allclose(restored.predict(x, batch_size=512, verbose=0),
                               model.predict(x, batch_size=512, verbose=0), rtol=1e-6, atol=1e-7)


def test_make_dataset_cache_replays_the_first_pass(tmp_path):
    from tfx_bsl.public import tfxio
    from components.trainer import make_dataset
    from tensorflow_transform.tf_metadata import schema_utils
    path = os.path.join(tmp_path, "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(10):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "x": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[i % 2]))}))
                .SerializeToString())
    schema = schema_utils.schema_from_feature_spec(
        {"x": tf.io.FixedLenFeature([1], tf.int64),
         "label": tf.io.FixedLenFeature([1], tf.float32)})
    accessor = SimpleNamespace(tf_dataset_factory=lambda pattern, options, schema: tfxio.
                               TFExampleRecord(pattern, schema=schema).TensorFlowDataset(options))
    output = SimpleNamespace(transformed_metadata=SimpleNamespace(schema=schema))
    spec = SimpleNamespace(label_names=["label"])

    def batches(shuffle, cache, n=6):
        ds = make_dataset(path, accessor, output, spec, 4, ["x"], shuffle=shuffle, cache=cache)
        return [sorted(x["x"].numpy().ravel().tolist()) for x, _ in ds.take(n)]

    # Unshuffled: 3 batches per pass (4, 4, 2 rows), the second pass identical; without the
    # cache the input repeats before batching, so batches run across passes.
    cached = batches(shuffle=False, cache=True)
    assert cached[:3] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and cached[3:] == cached[:3]
    assert batches(shuffle=False, cache=False)[2] == [0, 1, 8, 9]
    # Shuffled: every pass still holds each row exactly once.
    shuffled = batches(shuffle=True, cache=True)
    for start in (0, 3):
        assert sorted(sum(shuffled[start:start + 3], [])) == list(range(10))
