"""Issue 23 item 7, remote pushes: a push to object storage (gs://) is uploaded under a
temporary prefix and its version gets a marker object written last; readers require the marker.
TensorFlow's in-memory filesystem (ram://) stands in for the object store: a `://` path takes
the Pusher's remote code path and tf.io.gfile, as gs:// does."""
import os
import uuid

import pytest
import tensorflow as tf

from components import remote_push
from components.remote_push import MARKER, complete_versions, newest_complete


def _fake_model(path, tag):
    os.makedirs(os.path.join(path, "variables"))
    for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
        with open(os.path.join(path, name), "w") as f:
            f.write(tag)


def _read(path):
    with tf.io.gfile.GFile(path) as f:
        return f.read()


@pytest.fixture
def bucket():
    base = f"ram://bucket-{uuid.uuid4().hex}/serving"
    yield base
    if tf.io.gfile.exists(base):
        tf.io.gfile.rmtree(base)


def test_the_pusher_executor_writes_a_remote_version_with_its_marker_last(tmp_path, bucket,
                                                                          monkeypatch):
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from components.pusher import Executor
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    _fake_model(os.path.join(model.uri, "Format-Serving"), "new")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=bucket))
    writes = []  # (path) of every object written into the bucket, in order
    copy, open_file = tf.io.gfile.copy, tf.io.gfile.GFile
    monkeypatch.setattr(tf.io.gfile, "copy", lambda src, dst, overwrite=False: (
        writes.append(dst), copy(src, dst, overwrite))[1])
    monkeypatch.setattr(tf.io.gfile, "GFile", lambda path, mode="r": (
        writes.append(path) if "w" in mode else None, open_file(path, mode))[1])
    Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
                  {"push_destination": proto_utils.proto_to_json(destination)})
    version = pushed.get_string_custom_property("pushed_version")
    target = f"{bucket}/{version}"
    assert pushed.get_string_custom_property("pushed_destination") == target
    assert sorted(tf.io.gfile.listdir(bucket)) == [version]  # the temporary prefix is gone
    assert _read(f"{target}/saved_model.pb") == "new"
    in_version = [w for w in writes if w.startswith(target + "/")]
    # the upload went to a temporary prefix first; in the version, saved_model.pb then the marker
    assert writes[0].startswith(f"{bucket}/{remote_push.INCOMING_PREFIX}")
    assert in_version[-2:] == [f"{target}/saved_model.pb", f"{target}/{MARKER}"]
    assert newest_complete(bucket) == target


def test_readers_skip_a_version_without_its_marker_and_it_is_never_reused(tmp_path, bucket,
                                                                           monkeypatch):
    from pipeline.predict import resolve_model_dir
    _fake_model(str(tmp_path / "m"), "m")
    first, first_path = remote_push.push(str(tmp_path / "m"), bucket, now=1_000)
    copy = tf.io.gfile.copy

    def dies_in_the_version(src, dst, overwrite=False):
        if not dst.split("/")[-2].startswith(remote_push.INCOMING_PREFIX) and \
                dst.endswith("saved_model.pb"):
            raise KeyboardInterrupt  # stands in for SIGKILL during the copy into the version
        return copy(src, dst, overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", dies_in_the_version)
    with pytest.raises(KeyboardInterrupt):
        remote_push.push(str(tmp_path / "m"), bucket, now=1_000)
    monkeypatch.undo()
    assert remote_push.versions(bucket) == [1000, 1001]  # 1001: a version without a marker
    assert complete_versions(bucket) == [1000]
    assert resolve_model_dir(bucket) == first_path  # predict takes the newest complete one
    with pytest.raises(SystemExit, match=f"no {MARKER} marker"):
        resolve_model_dir(f"{bucket}/1001")  # ... and refuses the incomplete one
    version, _ = remote_push.push(str(tmp_path / "m"), bucket, now=1_000)
    assert version == "1002"  # never a version another push started
    assert resolve_model_dir(bucket) == f"{bucket}/1002"
    with pytest.raises(SystemExit, match="no version with a"):
        resolve_model_dir(f"ram://empty-{uuid.uuid4().hex}/serving")
