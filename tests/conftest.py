import os
import sys

# Keras 2 (tf_keras) must be chosen before TensorFlow is first imported anywhere.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory):
    """ONE end-to-end pipeline run shared by every test module that needs one (slow)."""
    from test_pipeline_e2e import make_first_run
    return make_first_run(tmp_path_factory)

# The pipeline's Trainer does the same: autograph need not convert tf_keras' own code, and the
# suite's many first fits/saves then take seconds instead of tens of seconds each.
from ctr_models.tracing import skip_keras_autograph  # noqa: E402

skip_keras_autograph()
