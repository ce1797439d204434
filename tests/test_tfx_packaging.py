"""TFX packages itself for every Beam component unless the workers already run this installation
(pipeline/tfx_packaging.py)."""
import pytest
from tfx.dsl.components.base import base_beam_executor

from pipeline.tfx_packaging import (skip_self_packaging_for_local_runners,
                                    workers_run_this_installation)

LOOPBACK_PORTABLE = ["--runner=PortableRunner", "--job_endpoint=localhost:8099",
                     "--environment_type=EXTERNAL", "--environment_config=localhost:8100"]


@pytest.mark.parametrize("args, local", [
    ([], True),
    (["--direct_running_mode=in_memory"], True),
    (["--direct_running_mode=multi_processing", "--direct_num_workers=2"], True),
    (["--runner=DirectRunner"], True),
    (LOOPBACK_PORTABLE, True),
    (["--runner", "PortableRunner", "--job_endpoint", "127.0.0.1:8099",
      "--environment_type", "PROCESS"], True),
    (["--runner=DataflowRunner", "--project=p"], False),
    (["--runner=FlinkRunner"], False),
    (["--runner=PortableRunner", "--job_endpoint=flink-master:8099",
      "--environment_type=EXTERNAL"], False),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], False),  # DOCKER by default
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099",
      "--environment_type=DOCKER"], False),
    # the last --runner wins, as in Beam
    (["--runner=DirectRunner", "--runner=DataflowRunner"], False),
])
def test_which_runners_run_this_installation(args, local):
    assert workers_run_this_installation(args) is local


class ProbeExecutor(base_beam_executor.BaseBeamExecutor):
    """A Beam executor that does nothing: its constructor is where TFX packages itself (module
    level, since TFX names an executor by its importable path)."""
    def Do(self, input_dict, output_dict, exec_properties):
        pass


def test_beam_executors_skip_the_packaging_for_local_runners_only(monkeypatch):
    from tfx.utils import dependency_utils
    packaged = []

    def tfx_packaging(args):  # stands in for TFX's own function (a 51 MB copy and an sdist)
        packaged.append(list(args))
        return list(args) + ["--extra_package=/tmp/tfx_ephemeral.tar.gz"]

    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", tfx_packaging)
    skip_self_packaging_for_local_runners()
    skip_self_packaging_for_local_runners()  # a second call does not wrap the wrapper

    def beam_args_of(args):
        return ProbeExecutor(base_beam_executor.BaseBeamExecutor.Context(
            beam_pipeline_args=args))._beam_pipeline_args

    assert "--extra_package=/tmp/tfx_ephemeral.tar.gz" not in beam_args_of(
        ["--direct_running_mode=in_memory"])
    assert "--extra_package=/tmp/tfx_ephemeral.tar.gz" not in beam_args_of(LOOPBACK_PORTABLE)
    assert packaged == []
    remote = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    assert "--extra_package=/tmp/tfx_ephemeral.tar.gz" in beam_args_of(remote)
    assert packaged == [remote]
