"""DeepCTR-compatible click-through-rate models on tf_keras.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` (always: a user's =0 would break
Transform) so that TensorFlow, imported afterwards, exposes Keras 2 as ``tf.keras`` -- the Keras
that TF-Transform uses.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # forced: a user's =0 would give Transform Keras 3

from .utils import check_version  # noqa: E402,F401  (offline; see ctr_models.utils)
from .version import __version__  # noqa: E402,F401
