"""Faster graph tracing for tf_keras models.

TensorFlow's autograph rewrites the Python source of every function a `tf.function` reaches,
except in packages it lists as already graph-safe: `tensorflow` and `keras` are on that list,
but `tf_keras` (the same Keras 2 code under a new name) is not. So the first `fit`, `evaluate`
and `save` of a tf_keras model spend most of their time converting Keras' own training loop,
losses, metrics and optimizers (measured here: DeepFM's first `fit` 127 s -> 26 s, first
`evaluate` 25 s -> 8.5 s, on a busy 2-core machine; see BENCHMARKS.md). Keras never relied on
that conversion, so adding `tf_keras` to the list changes no result.

ctr_models' own layers are graph code too: like DeepCTR's, whose layers ran on TensorFlow 1
without autograph, they use TensorFlow's control flow ops and no Python `if`/`while` on a tensor,
so converting their `call` methods (each model's first trace of fit, predict and save) is pure
cost: 20-30 % of a DeepFM or xDeepFM fit-save-load round trip. They are left unconverted too;
every model test runs that way (tests/conftest.py), so a layer that needed autograph would fail
there. User code, including a user's subclass of a ctr_models layer, is still converted.

Nothing happens on import: the pipeline's Trainer calls `skip_autograph_of_graph_safe_code()`
before it builds the model, and library users may call it once at start-up
(`skip_keras_autograph` is its former name).
"""
import logging

__all__ = ["skip_autograph_of_graph_safe_code", "skip_keras_autograph"]

# packages whose code never relies on autograph (see above)
GRAPH_SAFE_PACKAGES = ("tf_keras", "ctr_models")


def skip_autograph_of_graph_safe_code():
    """Tells autograph not to convert the code of GRAPH_SAFE_PACKAGES (idempotent). Returns True
    when the rules are in place, False when this TensorFlow version has no such hook (nothing
    changes)."""
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # a TensorFlow without this private module: keep the default behaviour
        logging.getLogger(__name__).warning("autograph config not found; tf_keras code is traced "
                                            "with autograph conversion (slower first steps)")
        return False
    rules = tuple(config.CONVERSION_RULES)
    missing = [package for package in GRAPH_SAFE_PACKAGES
               if not any(isinstance(r, config.DoNotConvert) and r.matches(package)
                          for r in rules)]
    config.CONVERSION_RULES = tuple(config.DoNotConvert(p) for p in missing) + rules
    return True


skip_keras_autograph = skip_autograph_of_graph_safe_code  # the former name, kept for users
