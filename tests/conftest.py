import os
import sys

# Keras 2 (tf_keras) must be chosen before TensorFlow is first imported anywhere.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))
