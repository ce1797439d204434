"""Stops TFX from packaging itself for Beam jobs whose workers already run this installation.

Every Beam-powered TFX executor (ExampleGen, StatisticsGen, Transform, Evaluator, ours too) calls
`tfx.utils.dependency_utils.make_beam_dependency_flags` when it starts: unless the Beam options
already name a package, a setup file or a container image, it copies the whole installed `tfx`
package (51 MB) into a new temporary folder, runs `setup.py sdist` there and adds the archive as
`--extra_package`, so that remote workers (Dataflow, a Flink or Spark cluster) can install TFX.
TFX never deletes that folder. For the runners this project starts on this machine that is pure
cost: the DirectRunner (in_memory or multi_processing) and the PortableRunner against our own
loopback job service and EXTERNAL worker pool (pipeline/beam_services.py) run their workers from
this same interpreter and venv, and never install a staged package. Measured on the 2-core
machine: ~3.7 s of CPU per Beam component (four per run), and 51 MB left in /tmp each time
(hundreds of such folders had piled up there from the test suite).

TFX has no option to turn this off, hence the wrapper: for a local runner the Beam options are
returned unchanged; for any other runner (Dataflow, a remote PortableRunner or Flink/Spark job
endpoint, a DOCKER environment) TFX's own function runs as before."""
import logging
from typing import List, Sequence

LOCAL_RUNNERS = {"", "directrunner", "direct", "switchingdirectrunner", "bundlebaseddirectrunner",
                 "fnapirunner", "portablerunner"}
# environments whose SDK workers are processes of this machine started from this venv
LOCAL_ENVIRONMENTS = {"EXTERNAL", "LOOPBACK", "PROCESS", "BEAM_PYTHON"}
LOOPBACK_HOSTS = ("localhost:", "127.0.0.1:", "[::1]:")


def _option(args: Sequence[str], name: str) -> str:
    """The last value of `--name=value` (or `--name value`) in `args`, '' when absent."""
    value = ""
    for index, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and index + 1 < len(args):
            value = args[index + 1]
    return value


def workers_run_this_installation(beam_args: Sequence[str]) -> bool:
    """True when the Beam options select a runner whose workers are processes of this machine
    running this interpreter: the DirectRunner in any mode, or the PortableRunner against a job
    endpoint on loopback with a local (non-DOCKER) environment."""
    runner = _option(beam_args, "runner").lower()
    if runner not in LOCAL_RUNNERS:
        return False
    if runner != "portablerunner":
        return True
    endpoint = _option(beam_args, "job_endpoint")
    environment = _option(beam_args, "environment_type").upper()
    return endpoint.startswith(LOOPBACK_HOSTS) and environment in LOCAL_ENVIRONMENTS


def skip_self_packaging_for_local_runners() -> None:
    """Installs the wrapper in this process (idempotent): the TFX executors that run here (the
    LocalDagRunner and BeamDagRunner run them in-process) then skip the packaging whenever their
    Beam options select a local runner."""
    from tfx.utils import dependency_utils
    original = dependency_utils.make_beam_dependency_flags
    if getattr(original, "skips_local_runners", False):
        return

    def make_beam_dependency_flags(beam_pipeline_args: List[str]) -> List[str]:
        if workers_run_this_installation(beam_pipeline_args):
            logging.debug("Beam workers run this installation: TFX is not packaged for them")
            return beam_pipeline_args
        return original(beam_pipeline_args)

    make_beam_dependency_flags.skips_local_runners = True
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags
