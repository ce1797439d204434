"""The versions a model server answers with, kept current by polling the version folders.

As TF Serving's file-system source: integer-named folders under the base path are versions, the
newest `keep` loadable ones are served, an unversioned request goes to the newest. A version is
loaded and warmed up (its `assets.extra/tf_serving_warmup_requests`, else requests built from its
raw-data schema) before the served set is replaced in one assignment: a request takes the set
once, so it finishes on the version it chose, and a swapped-out version's queued batches are
still answered (batching.py). A folder that fails to load or to warm up (partial, corrupt, no
raw-data schema) is refused with one log line and stays refused until its files change; the
versions already served keep answering.

Under a run root only versions that ML-Metadata records as pushed are served, as `predict --model
<root>` decides (pipeline/predict.py): the Pusher renames a complete folder into place before its
push is recorded, so a folder appears unrecorded for a moment, and stays so when the run stopped
in between; it is skipped with a log line and loaded once the record exists. A plain folder of
versions (`--model-dir`) serves every version folder, as TF Serving does."""
import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from components.raw_examples import SIGNATURE, load_raw_schema
from pipeline.predict import recorded_push_versions
from pipeline.serving.batching import Batcher
from pipeline.serving.inputs import ExampleEncoder
from components.serving_warmup import (EXAMPLES_INPUT, read_warmup_requests,
                                     schema_warmup_examples)

logger = logging.getLogger(__name__)


class VersionError(Exception):
    """A version folder that cannot be served (the message says why)."""


class ModelNotFound(LookupError):
    """An unknown model name or a version that is not served (HTTP 404, gRPC NOT_FOUND)."""


@dataclasses.dataclass(frozen=True)
class ServingOptions:
    keep_versions: int = 2  # the newest N loadable versions stay addressable
    max_batch: int = 512  # examples per batched signature call
    batch_wait_ms: float = 2.0  # 0: no batching (each request calls the signature itself)
    max_instances: int = 4096  # per request
    poll_seconds: float = 1.0  # TF Serving's --file_system_poll_wait_seconds default


@dataclasses.dataclass(frozen=True)
class VersionSource:
    """Where versions come from: `base` holds the version folders; `run_root` (a run root's
    serving/) limits them to the pushes its ML-Metadata records."""
    base: str
    run_root: Optional[str] = None

    def candidates(self) -> Tuple[List[int], List[int]]:
        """(servable version numbers, unrecorded ones), newest first."""
        if not os.path.isdir(self.base):
            return [], []
        versions = sorted((int(n) for n in os.listdir(self.base) if n.isdigit()
                           and os.path.isdir(os.path.join(self.base, n))), reverse=True)
        if self.run_root is None:
            return versions, []
        recorded = recorded_push_versions(self.run_root)
        if recorded is None:  # a root without a metadata store: as predict, every folder
            return versions, []
        return ([v for v in versions if str(v) in recorded],
                [v for v in versions if str(v) not in recorded])


class ServedVersion:
    """One loaded version: its signature, its raw-data schema and its batcher."""

    def __init__(self, version: int, path: str, options: ServingOptions,
                 on_batch: Optional[Callable[[int], None]] = None):
        import tensorflow as tf
        self.version, self.path = version, path
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise VersionError("no saved_model.pb (a partial copy?)")
        try:
            self.schema = load_raw_schema(path)
        except SystemExit as error:  # predict's message for a model without the schema
            raise VersionError(str(error.code)) from None
        self.encoder = ExampleEncoder(self.schema, options.max_instances)
        try:
            self.signature = tf.saved_model.load(path).signatures[SIGNATURE]
        except KeyError:
            raise VersionError(f"no {SIGNATURE} signature") from None
        except Exception as error:  # noqa: BLE001 - any load failure refuses the version
            raise VersionError(f"the SavedModel does not load: {one_line(error)}") from None
        inputs = self.signature.structured_input_signature[1]
        if set(inputs) != {EXAMPLES_INPUT} or inputs[EXAMPLES_INPUT].dtype != tf.string:
            raise VersionError(f"{SIGNATURE} takes {sorted(inputs)}, not one string input "
                               f"{EXAMPLES_INPUT!r} of serialized tf.Examples")
        self.outputs = sorted(self.signature.structured_outputs)
        self.signature_defs = read_signature_defs(path)
        self.batcher = (Batcher(self.run, options.max_batch, options.batch_wait_ms / 1000.0,
                                name=f"batcher-v{version}", on_batch=on_batch)
                        if options.batch_wait_ms > 0 else None)
        try:
            self.warm_up()
        except Exception:
            self.close()
            raise

    def run(self, examples: List[bytes]) -> Dict[str, np.ndarray]:
        """The signature on `examples`: output name -> array with one row per example."""
        import tensorflow as tf
        result = self.signature(examples=tf.constant(examples, dtype=tf.string))
        return {name: result[name].numpy().reshape(len(examples), -1) for name in self.outputs}

    def submit(self, examples: List[bytes]) -> concurrent.futures.Future:
        """The outputs of `examples`, batched with concurrent requests when batching is on."""
        if self.batcher is not None:
            return self.batcher.submit(examples)
        future = concurrent.futures.Future()
        try:
            future.set_result(self.run(examples))
        except Exception as error:  # noqa: BLE001 - the caller answers with it
            future.set_exception(error)
        return future

    def warm_up(self):
        """Replays the warm-up file (else schema-built requests); a failure or a non-finite or
        misshapen answer refuses the version."""
        try:
            requests = read_warmup_requests(self.path)
        except Exception as error:  # noqa: BLE001
            raise VersionError(f"unreadable warm-up file: {one_line(error)}") from None
        if requests is None:
            requests = [schema_warmup_examples(self.schema)]
        for examples in requests:
            try:
                outputs = self.run(examples)
            except Exception as error:  # noqa: BLE001
                raise VersionError(f"warm-up request failed: {one_line(error)}") from None
            for name, values in outputs.items():
                if values.shape[0] != len(examples) or not np.all(np.isfinite(values)):
                    raise VersionError(f"warm-up: output {name} is {values.tolist()[:4]} for "
                                       f"{len(examples)} examples")

    def close(self):
        if self.batcher is not None:
            self.batcher.close()


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"


def read_signature_defs(path: str):
    """The SavedModel's SignatureDefs (for GetModelMetadata), read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved = saved_model_pb2.SavedModel.FromString(f.read())
    return dict(saved.meta_graphs[0].signature_def) if saved.meta_graphs else {}


@dataclasses.dataclass(frozen=True)
class Served:
    """The served set at one moment (never changed: a swap assigns a new one)."""
    versions: Dict[int, ServedVersion]

    @property
    def latest(self) -> Optional[ServedVersion]:
        return self.versions[max(self.versions)] if self.versions else None


class VersionManager:
    """The served versions of one model, kept current by `poll()`."""

    def __init__(self, name: str, source: VersionSource, options: ServingOptions,
                 on_batch: Optional[Callable[[int], None]] = None,
                 on_change: Optional[Callable[["Served"], None]] = None):
        self.name, self.source, self.options = name, source, options
        self.on_batch, self.on_change = on_batch, on_change
        self.served = Served({})
        self.refused: Dict[int, Tuple[float, str]] = {}  # version -> (files' mtime, reason)
        self.unrecorded_said: set = set()
        self.poll_lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = None

    def resolve(self, name: str, version: Optional[int] = None) -> ServedVersion:
        """The version answering a request for model `name` (the newest when `version` is
        None); ModelNotFound names what is served."""
        served = self.served  # one read: the request stays on this set whatever swaps next
        if name != self.name:
            raise ModelNotFound(f"Servable not found for request: model {name!r} (this server "
                                f"serves {self.name!r})")
        if version is None:
            if served.latest is None:
                raise ModelNotFound(f"model {name!r}: no version is loaded yet (under "
                                    f"{self.source.base})")
            return served.latest
        if version not in served.versions:
            raise ModelNotFound(f"Servable not found for request: version {version} of model "
                                f"{name!r} (served: {sorted(served.versions) or 'none'})")
        return served.versions[version]

    def poll(self):
        """Loads the newest `keep` servable versions not loaded yet, then swaps the served set;
        versions that fell out of it are closed (their queued requests are still answered)."""
        with self.poll_lock:
            candidates, unrecorded = self.source.candidates()
            present = set(candidates) | set(unrecorded)
            self.refused = {v: r for v, r in self.refused.items() if v in present}
            for version in unrecorded:
                if version not in self.unrecorded_said:
                    self.unrecorded_said.add(version)
                    logger.warning("model %s: skipping version %d (%s): ML-Metadata has no "
                                   "record of its push (a push in progress, or stopped before "
                                   "it was recorded)", self.name, version,
                                   os.path.join(self.source.base, str(version)))
            current = self.served.versions
            wanted: Dict[int, ServedVersion] = {}
            for version in candidates:
                if len(wanted) == self.options.keep_versions:
                    break
                loaded = current.get(version) or self.load(version)
                if loaded is not None:
                    wanted[version] = loaded
            if list(wanted) == list(current) or (not wanted and not current):
                return
            self.served = Served(wanted)  # the swap: one assignment
            for version, old in current.items():
                if version not in wanted:
                    old.close()
                    logger.info("model %s: version %d unloaded", self.name, version)
            if self.on_change is not None:
                self.on_change(self.served)

    def load(self, version: int) -> Optional[ServedVersion]:
        path = os.path.join(self.source.base, str(version))
        stamp = files_stamp(path)
        if version in self.refused and self.refused[version][0] == stamp:
            return None
        started = time.monotonic()
        try:
            loaded = ServedVersion(version, path, self.options, self.on_batch)
        except VersionError as error:
            self.refused[version] = (stamp, str(error))
            serving = sorted(self.served.versions)
            logger.error("model %s: refusing version %d (%s): %s; %s", self.name, version, path,
                         error, f"still serving {serving}" if serving else "no version served")
            return None
        self.refused.pop(version, None)
        logger.info("model %s: version %d loaded and warmed up in %.1f s (%s)", self.name,
                       version, time.monotonic() - started, path)
        return loaded

    def status(self) -> List[Tuple[int, str, str]]:
        """(version, state, error) of served and refused versions, newest first; state is
        AVAILABLE or END (refused), as TF Serving's ModelVersionStatus."""
        rows = [(v, "AVAILABLE", "") for v in self.served.versions]
        rows += [(v, "END", reason) for v, (_, reason) in self.refused.items()
                 if v not in self.served.versions]
        return sorted(rows, reverse=True)

    def start(self):
        """Polls every `poll_seconds` on a thread until `stop()`."""
        def loop():
            while not self.stopping.wait(self.options.poll_seconds):
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 - a failed poll must not stop serving
                    logger.exception("model %s: polling %s failed", self.name, self.source.base)
        self.thread = threading.Thread(target=loop, name="version-poll", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
        for served in self.served.versions.values():
            served.close()


def files_stamp(path: str) -> float:
    """The newest modification time of a version folder's files (a refused version is tried
    again once it changes)."""
    newest = 0.0
    for folder, _, files in os.walk(path):
        for name in files + [""]:
            try:
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
            except OSError:
                pass
    return newest
