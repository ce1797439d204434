"""Pushes to object storage (gs://, s3://): a version is complete when its marker object exists.

Object stores have no atomic folder rename, so the local Pusher's rename (components/pusher.py)
cannot be used. Here the model is first uploaded under a temporary prefix beside the versions
(`<base>/.incoming-<push id>/`); only then is the version number picked (the newest version +1,
or the unix second: incomplete versions count too, so none is ever reused) and the upload copied
into `<base>/<version>/` (saved_model.pb last, as TFX does, since model servers take it as
"complete"); the marker object `<base>/<version>/PUSH_COMPLETE`, holding the push id, is written
last. Readers require it: `predict --model gs://.../serving` takes the newest version with a
marker and refuses a version folder without one; `runs` lists pushes from ML-Metadata, which TFX
writes only after the marker. A push that reads back another push's id in the marker (two
pushes picked one version at once) fails instead of recording a mixed folder. A push killed
midway leaves its `.incoming-*` prefix or a version without a marker; neither is ever read.

Everything goes through tf.io.gfile, so a local path takes the same code (the tests use one)."""
import logging
import uuid

MARKER = "PUSH_COMPLETE"
INCOMING_PREFIX = ".incoming-"
SAVED_MODEL = "saved_model.pb"


def gfile():
    import tensorflow as tf
    return tf.io.gfile


def join(base, *names):
    return "/".join([base.rstrip("/")] + list(names))


def versions(base):
    """Integer version folders under `base`, complete or not (others ignored), ascending."""
    if not gfile().exists(base):
        return []
    return sorted(int(n.rstrip("/")) for n in gfile().listdir(base) if n.rstrip("/").isdigit())


def is_complete(version_dir):
    return gfile().exists(join(version_dir, MARKER))


def complete_versions(base):
    return [v for v in versions(base) if is_complete(join(base, str(v)))]


def copy_tree(source, target):
    """Copies the folder `source` to `target`, saved_model.pb last."""
    files = []
    for folder, _, names in gfile().walk(source):
        rel = folder[len(source.rstrip("/")):].strip("/")
        files += [(join(folder, n), join(target, rel, n) if rel else join(target, n))
                  for n in names]
    files.sort(key=lambda pair: pair[0] == join(source, SAVED_MODEL))
    for src, dst in files:
        gfile().makedirs(dst.rsplit("/", 1)[0])
        gfile().copy(src, dst, overwrite=False)


def push(model_path, base, now):
    """Uploads `model_path` as a new complete version under `base`; returns (version, path).
    `now`: the unix second (the version when no newer one exists)."""
    push_id = uuid.uuid4().hex
    incoming = join(base, f"{INCOMING_PREFIX}{push_id}")
    try:
        copy_tree(model_path, incoming)
        version = max([int(now)] + [v + 1 for v in versions(base)[-1:]])
        while gfile().exists(join(base, str(version))):
            version += 1
        target = join(base, str(version))
        copy_tree(incoming, target)
        with gfile().GFile(join(target, MARKER), "w") as f:
            f.write(push_id)
        with gfile().GFile(join(target, MARKER)) as f:
            if f.read() != push_id:
                raise RuntimeError(f"{target}: another push wrote this version at the same time; "
                                   f"this push is not recorded")
        logging.info("pushed %s to %s (marker %s written last)", model_path, target, MARKER)
        return str(version), target
    finally:
        if gfile().exists(incoming):
            gfile().rmtree(incoming)


def newest_complete(base):
    """`base` itself when it is a version folder (an integer name) with its marker, or another
    SavedModel folder; else its newest complete version; SystemExit naming what is missing."""
    if base.rstrip("/").rsplit("/", 1)[-1].isdigit():
        if not is_complete(base):
            raise SystemExit(f"--model {base}: no {MARKER} marker: the push of this version did "
                             f"not finish")
        return base
    if gfile().exists(join(base, SAVED_MODEL)):
        return base
    complete = complete_versions(base)
    if not complete:
        raise SystemExit(f"--model {base}: no version with a {MARKER} marker "
                         f"(versions without one: {versions(base) or 'none'})")
    return join(base, str(complete[-1]))
