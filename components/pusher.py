"""Pusher executor: TFX's Pusher, but a pushed version appears atomically and never collides.

TFX 1.16's filesystem Pusher names the version `int(time.time())` and copies the model file by
file into `<serving>/<version>`: a run killed mid-copy leaves a half-written version that a model
server would load, and a second push in the same second finds the folder, skips the copy and
still records itself as pushed there (so it silently points at the other model).

Here (local serving folders) the model is copied into a hidden `.incoming-*` folder beside the
versions and renamed into place: `rename(2)` of a folder is atomic and fails when the target
exists, so a version folder is either complete or absent, and two pushes never share one. The
version is the unix second, or one more than the newest version when that is not older (versions
stay integers, increasing, as TensorFlow Serving expects). Leftover `.incoming-*` folders (a push
killed mid-copy) are removed by the next push. Remote destinations (gs://) are uploaded under a
temporary prefix and get a marker object written last, which readers require
(components/remote_push.py). Blessing checks, the archived copy under the ModelPushPath
artifact and its MLMD properties (`pushed`, `pushed_destination`, `pushed_version`) are TFX's.

The version folder appears before ML-Metadata records the push: TFX's launcher writes the
PushedModel artifact and its properties only after `Do` returns, so a run stopped in between
(or failing in the archived copy) leaves a complete folder that no record names. Readers trust
the record, not the folder: `predict --model <run root>` takes the newest version recorded as
pushed and says which unrecorded folders it skipped (pipeline/predict.py), and `runs` lists
pushes from ML-Metadata only. Such a folder is never reused (`next_version` counts it); a model
server watching the folder would load it (it is complete), as it would any pushed version.
"""
import errno
import logging
import os
import shutil
import time
import uuid

from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import remote_push

INCOMING_PREFIX = ".incoming-"


def existing_versions(base_directory):
    """Integer version folders under `base_directory` (hidden/other names ignored)."""
    if not fileio.exists(base_directory):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base_directory)]
    return sorted(int(n) for n in names if n.isdigit())


def next_version(base_directory, now=None):
    """The unix second, or newest version + 1 when that is not older."""
    now = int(time.time() if now is None else now)
    versions = existing_versions(base_directory)
    return max([now] + [v + 1 for v in versions[-1:]])


def _copy_model(model_path, target):
    """TFX's copy order: saved_model.pb last (servers take it as 'the model is complete')."""
    io_utils.copy_dir(model_path, target, deny_regex_patterns=[r"saved_model\.pb"])
    saved_model = os.path.join(model_path, "saved_model.pb")
    if fileio.exists(saved_model):
        io_utils.copy_file(saved_model, os.path.join(target, "saved_model.pb"))


def write_serving_warmup(version_dir):
    """TF Serving's warm-up file (`assets.extra/tf_serving_warmup_requests`, requests built from
    the raw-data schema) in a version folder before it appears: TF Serving and `python -m pipeline
    serve` replay it before the version takes traffic. A model without the schema is pushed
    without one (servers then warm up from the schema or not at all)."""
    from components.serving_warmup import write_warmup_requests  # TensorFlow: at push time
    try:
        write_warmup_requests(version_dir)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the push does not depend on it
        logging.warning("No serving warm-up file in %s: %s", version_dir, error)


def push_atomically(model_path, base_directory, now=None, max_tries=1000):
    """Copies `model_path` to a new version folder under local `base_directory`; returns
    (version, path). The folder appears complete in one rename, under a version no other push
    has taken."""
    os.makedirs(base_directory, exist_ok=True)
    for name in os.listdir(base_directory):  # a push killed mid-copy
        if name.startswith(INCOMING_PREFIX):
            shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
    incoming = os.path.join(base_directory, f"{INCOMING_PREFIX}{uuid.uuid4().hex}")
    try:
        _copy_model(model_path, incoming)
        write_serving_warmup(incoming)
        version = next_version(base_directory, now)
        for _ in range(max_tries):
            target = os.path.join(base_directory, str(version))
            try:
                os.rename(incoming, target)  # fails if `target` exists and is not empty
                return str(version), target
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                version += 1
        raise RuntimeError(f"no free version folder under {base_directory} after {max_tries} tries")
    finally:
        if os.path.exists(incoming):
            shutil.rmtree(incoming, ignore_errors=True)


class Executor(tfx_pusher.Executor):
    """TFX's Pusher executor with `push_atomically` for filesystem destinations."""

    def Do(self, input_dict, output_dict, exec_properties):
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                                  destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError(f"push destination {destination.WhichOneof('destination')}")
        base = destination.filesystem.base_directory
        if "://" in base:  # object storage has no atomic folder rename: a marker written last
            version, serving_path = remote_push.push(model_path, base, now=time.time())
        else:
            version, serving_path = push_atomically(model_path, base)
        logging.info("Model pushed to %s (version %s)", serving_path, version)
        io_utils.copy_dir(model_path, model_push.uri)  # the archived copy, as TFX does
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
