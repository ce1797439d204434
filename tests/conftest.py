import os
import sys

# Keras 2 (tf_keras) must be chosen before TensorFlow is first imported anywhere.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))


import pytest  # noqa: E402

import background_runs  # noqa: E402
import shared_runs  # noqa: E402


def pytest_collection_modifyitems(session, config, items):
    """Modules with pipeline runs go last (each keeps its own order): the background runs
    (background_runs.py) then have the time of the other tests to finish."""
    has_runs = {item.module.__name__ for item in items if item.get_closest_marker("pipeline")}
    items.sort(key=lambda item: item.module.__name__ in has_runs)


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """The session's background pipeline runs, started in the order the tests need them."""
    runs = background_runs.BackgroundRuns(lambda name: str(tmp_path_factory.mktemp(name)))
    if background_runs.enabled():
        runs.start(name for item in request.session.items for name in item.fixturenames)
    yield runs
    runs.close()


@pytest.fixture(scope="session")
def e2e_run(background, e2e_first_run):
    """ONE end-to-end pipeline run shared by every test module that needs one (slow)."""
    from test_pipeline_e2e import make_first_run
    return make_first_run(background)


@pytest.fixture(scope="session")
def e2e_first_run():
    """Names the background run behind e2e_run (shared_runs.run_e2e_first), so that the
    session starts it whenever a selected test needs e2e_run."""


background_runs.register("criteo_cli_root", shared_runs.run_criteo_cli_root)
background_runs.register("e2e_first_run", shared_runs.run_e2e_first)


@pytest.fixture(scope="session")
def criteo_cli_root(background):
    """The CLI run root shared by the README and CLI output checks (shared_runs.py): its
    commands run in the background, and `result(name)` waits for the one named."""
    return shared_runs.criteo_cli_root(background.folder("criteo_cli_root"))

# The pipeline's Trainer does the same: autograph need not convert tf_keras' own code, and the
# suite's many first fits/saves then take seconds instead of tens of seconds each.
from ctr_models.tracing import skip_autograph_of_graph_safe_code  # noqa: E402

skip_autograph_of_graph_safe_code()
