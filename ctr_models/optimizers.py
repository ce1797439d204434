"""Optimizers for models with large embedding tables.

`LazyAdam`: Adam whose sparse update touches only the rows a batch read. tf_keras' Adam, given
the `tf.IndexedSlices` gradient of an embedding gather, still decays the first and second moments
of EVERY row and rewrites every row of the variable each step (work proportional to the table,
not to the batch). LazyAdam instead, for an IndexedSlices gradient with rows `i` (tf_keras
de-duplicates them before `update_step`), computes

    m[i] <- beta_1 * m[i] + (1 - beta_1) * g[i]
    v[i] <- beta_2 * v[i] + (1 - beta_2) * g[i]^2
    w[i] <- w[i] - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m[i] / (sqrt(v[i]) + epsilon)

with the global step t for the bias correction, and leaves the moments and weights of all other
rows unchanged ("lazy Adam" semantics, as in TensorFlow Addons' LazyAdam: rows absent from a batch
neither decay nor move). Dense gradients get exactly tf_keras' Adam update.

Note that an L2 regulariser over a whole table (DeepCTR's `l2_reg_embedding`) makes that table's
gradient dense, and LazyAdam then behaves exactly like Adam for it; see BENCHMARKS.md for what the
lazy update measured.

`get_optimizer(name, learning_rate)` builds an optimizer by name for the Trainer's
`optimizer` setting.
"""
import tensorflow as tf
import tf_keras as keras

__all__ = ["LazyAdam", "get_optimizer", "OPTIMIZER_NAMES"]


@keras.utils.register_keras_serializable(package="ctr_models")
class LazyAdam(keras.optimizers.Adam):
    """Adam with lazy (touched-rows-only) updates for sparse gradients; see the module doc.

    Same constructor arguments as `keras.optimizers.Adam`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="LazyAdam", **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, name=name, **kwargs)

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        correction_2 = tf.sqrt(1 - tf.pow(beta_2, step))
        alpha = tf.cast(self.learning_rate, dtype) * correction_2 / (1 - tf.pow(beta_1, step))
        epsilon = self.epsilon * correction_2 if self.adaptive_epsilon else self.epsilon
        key = self._var_key(variable)
        m = self._momentums[self._index_dict[key]]
        v = self._velocities[self._index_dict[key]]
        rows, values = gradient.indices, tf.cast(gradient.values, dtype)
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        if self.amsgrad:
            v_hat = self._velocity_hats[self._index_dict[key]]
            v_rows = tf.maximum(tf.gather(v_hat, rows), v_rows)
            v_hat.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(
            alpha * m_rows / (tf.sqrt(v_rows) + epsilon), rows))


# name -> class; every one takes `learning_rate` as its first argument.
_OPTIMIZERS = {"adam": keras.optimizers.Adam, "lazy_adam": LazyAdam,
               "adagrad": keras.optimizers.Adagrad, "ftrl": keras.optimizers.Ftrl,
               "sgd": keras.optimizers.SGD}
OPTIMIZER_NAMES = tuple(_OPTIMIZERS)


def get_optimizer(name, learning_rate):
    """A new optimizer `name` (one of OPTIMIZER_NAMES) with `learning_rate`."""
    try:
        cls = _OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ValueError(f"Unknown optimizer {name!r}: use one of {', '.join(OPTIMIZER_NAMES)}"
                         ) from None
    return cls(learning_rate)
