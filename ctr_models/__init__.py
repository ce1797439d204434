"""DeepCTR-compatible click-through-rate models on tf_keras.

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` (only if unset) so that TensorFlow,
imported afterwards, exposes Keras 2 as ``tf.keras`` -- the Keras that TF-Transform uses.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

from .utils import check_version  # noqa: E402,F401  (offline; see ctr_models.utils)
