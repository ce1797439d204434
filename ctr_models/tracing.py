"""Faster graph tracing for tf_keras models.

TensorFlow's autograph rewrites the Python source of every function a `tf.function` reaches,
except in packages it lists as already graph-safe: `tensorflow` and `keras` are on that list,
but `tf_keras` (the same Keras 2 code under a new name) is not. So the first `fit`, `evaluate`
and `save` of a tf_keras model spend most of their time converting Keras' own training loop,
losses, metrics and optimizers (measured here: DeepFM's first `fit` 127 s -> 26 s, first
`evaluate` 25 s -> 8.5 s, on a busy 2-core machine; see BENCHMARKS.md). Keras never relied on
that conversion, so adding `tf_keras` to the list changes no result.

Nothing happens on import: the pipeline's Trainer calls `skip_keras_autograph()` before it
builds the model, and library users may call it once at start-up.
"""
import logging

__all__ = ["skip_keras_autograph"]

_PACKAGE = "tf_keras"


def skip_keras_autograph():
    """Tells autograph not to convert tf_keras' own code (idempotent). Returns True when the
    rule is in place, False when this TensorFlow version has no such hook (nothing changes)."""
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # a TensorFlow without this private module: keep the default behaviour
        logging.getLogger(__name__).warning("autograph config not found; tf_keras code is traced "
                                            "with autograph conversion (slower first steps)")
        return False
    rules = tuple(config.CONVERSION_RULES)
    if any(isinstance(r, config.DoNotConvert) and r.matches(_PACKAGE) for r in rules):
        return True
    config.CONVERSION_RULES = (config.DoNotConvert(_PACKAGE),) + rules
    return True
