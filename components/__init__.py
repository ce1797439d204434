"""TFX module code: dataset specs, preprocessing_fn, run_fn and custom components.

Keras 2 (tf_keras) must be selected before TensorFlow is imported."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # forced: a user's =0 would give Transform Keras 3
