"""Benchmarks of the pipeline against its references (DeepCTR 0.9.4, pandas + scikit-learn, TFX's
own executors): `make bench` runs them all (`python -m benchmarks.run_all`) and writes their
figures into BENCHMARKS.md. Not part of the installed package (setup.py leaves it out) nor of the
image (.dockerignore).

Keras 2 (tf_keras) must be selected before TensorFlow is imported."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # forced: a user's =0 would give Transform Keras 3
