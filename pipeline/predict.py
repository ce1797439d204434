"""`python -m pipeline predict`: raw CSV rows in the dataset's own format -> one probability column
per task, through the pushed model's serving signature only (Transform runs inside it).

The file is read in batches (constant memory on large files). Empty cells are missing values and
unseen categories go to the model's out-of-vocabulary ids, exactly as in serving; extra columns
are ignored. Types come from the raw-data schema the Trainer writes beside the SavedModel
(`assets.extra/raw_schema.pbtxt`).

`--out` is written to a temporary file beside it and renamed into place only when every row has
been scored (data/writing.py's `atomic_text_file`): a run that fails midway leaves no file at
`--out` (or the previous one untouched). An `--out` that is the input file (any spelling:
relative, symlink) is refused before anything is read.

A run root resolves to the newest version under `serving/` that ML-Metadata recorded as pushed.
The Pusher renames a complete version folder into place before TFX records the push (after the
executor returns), so a run stopped in between leaves a complete but unrecorded folder: it is
skipped, and the skip is said (`report`); `runs` never lists it (it reads pushes from
ML-Metadata only). A SavedModel folder given directly is used as given."""
import contextlib
import csv
import gzip
import io
import itertools
import logging
import os
import sys
from typing import Dict, Iterator, List, Optional, Set, TextIO

from components.raw_examples import SIGNATURE, InputError, RowEncoder, load_raw_schema

logger = logging.getLogger(__name__)

def recorded_push_versions(root: str) -> Optional[Set[str]]:
    """The version folder names that `root`'s ML-Metadata records as pushed (PushedModel
    artefacts with `pushed` = 1); None when the root has no metadata store."""
    from pipeline.reporting import metadata
    metadata_path = os.path.join(root, metadata.METADATA_FILE)
    if not os.path.exists(metadata_path):
        return None
    store = metadata.open_store(metadata_path)
    versions = set()
    for artifact in store.get_artifacts_by_type("PushedModel"):
        destination = metadata.artifact_property(artifact, "pushed_destination")
        if metadata.artifact_property(artifact, "pushed") == 1 and destination:
            # by name, not by full path: a run root that was moved or copied still matches
            versions.add(os.path.basename(destination.rstrip("/")))
    return versions


def resolve_model_dir(model: str, report: Optional[TextIO] = None) -> str:
    """A pushed model folder, or a run root: its newest version that ML-Metadata recorded as
    pushed. Newer version folders without a push record are skipped, each with a line to
    `report` (None: to the log only); a root without a metadata store uses its newest
    version folder. An object-store path (gs://) counts only versions whose push wrote its
    marker (components/remote_push.py)."""
    if "://" in model:
        from components.remote_push import newest_complete
        return newest_complete(model)
    model = os.path.abspath(model)
    if os.path.exists(os.path.join(model, "saved_model.pb")):
        return model
    serving = os.path.join(model, "serving")
    versions = [v for v in os.listdir(serving) if v.isdigit()] if os.path.isdir(serving) else []
    if not versions:
        raise SystemExit(f"--model {model}: neither a SavedModel folder nor a run root with "
                         f"pushed models under serving/")
    recorded = recorded_push_versions(model)
    for version in sorted(versions, key=int, reverse=True):
        if recorded is None or version in recorded:
            return os.path.join(serving, version)
        note = (f"skipping {os.path.join(serving, version)}: ML-Metadata has no record of its "
                f"push (a push stopped before it was recorded)")
        logger.warning("%s", note)
        if report is not None:
            report.write(note + "\n")
    raise SystemExit(f"--model {model}: no version under serving/ is recorded as pushed in "
                     f"ML-Metadata ({', '.join(sorted(versions, key=int))} have no push record)")


def refuse_out_that_is_input(input_path: str, out_path: Optional[str]) -> None:
    """Exits with one line when `out_path` names the file `input_path` (writing it would destroy
    the rows being read)."""
    if not out_path or not os.path.exists(out_path):
        return
    same = (os.path.realpath(out_path) == os.path.realpath(input_path)
            or (os.path.exists(input_path) and os.path.samefile(out_path, input_path)))
    if same:
        raise SystemExit(f"--out {out_path} is the --input file: the predictions would replace "
                         f"the rows being read; give another --out")


def _open_text(path):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), newline="")
    return open(path, newline="")


def _records(reader, path):
    """The reader's records; a quoting error becomes an InputError naming the row it began on."""
    while True:
        row = reader.line_num + 1
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"{path} row {row}: unbalanced quotes or a stray quote ({e}); fix "
                             f"the quoting") from None


def read_batches(path: str, encoder: RowEncoder, batch_size: int) -> Iterator[List[bytes]]:
    """Serialized examples in batches of `batch_size`; row numbers count the header as row 1."""
    with _open_text(path) as f:
        reader = _records(csv.reader(f, strict=True), path)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: empty file (a header row is required)")
        header = [h.strip() for h in header]
        encoder.check_header(header)
        batch = []
        for line_number, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise InputError(f"{path} row {line_number}: {len(cells)} fields, the header "
                                 f"has {len(header)}")
            batch.append(encoder.encode(dict(zip(header, cells)), line_number))
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class Predictor:
    """The serving signature of a pushed model, applied to batches of serialized examples."""

    def __init__(self, model_dir: str, report: Optional[TextIO] = None):
        import tensorflow as tf
        self.model_dir = resolve_model_dir(model_dir, report)
        self.schema = load_raw_schema(self.model_dir)
        self.signature = tf.saved_model.load(self.model_dir).signatures[SIGNATURE]
        self.outputs = sorted(self.signature.structured_outputs)

    def __call__(self, serialized: List[bytes]) -> Dict[str, "list"]:
        import tensorflow as tf
        result = self.signature(examples=tf.constant(serialized))
        return {name: result[name].numpy().reshape(len(serialized), -1)[:, 0]
                for name in self.outputs}


def predict_csv(model: str, input_path: str, out_path: Optional[str] = None,
                batch_size: int = 4096, progress: Optional[TextIO] = sys.stderr) -> int:
    """Scores every row of `input_path`; writes a CSV with one column per model output (to
    `out_path`, or stdout). Returns the number of rows scored; raises InputError naming the row
    and field of the first bad row. A progress bar and notes (a skipped unrecorded version) go
    to `progress` (None: none). `out_path` appears only complete: written to a temporary file
    beside it and renamed once every row is scored; an `out_path` that is the input is refused
    before anything is read."""
    from tqdm import tqdm
    from data.writing import atomic_text_file
    refuse_out_that_is_input(input_path, out_path)
    predictor = Predictor(model, report=progress)
    encoder = RowEncoder(predictor.schema, input_path)
    batches = read_batches(input_path, encoder, batch_size)
    first = next(batches, None)  # the header and first rows are checked before anything is written
    rows = 0
    with (atomic_text_file(out_path) if out_path else contextlib.nullcontext(sys.stdout)) as out:
        writer = csv.writer(out)
        writer.writerow(predictor.outputs)
        # delay: no bar at all for a file that fails on its first rows or scores in a moment
        with tqdm(unit=" rows", disable=progress is None, file=progress, mininterval=1.0,
                  delay=2.0) as bar:
            for batch in itertools.chain([first] if first else [], batches):
                scores = predictor(batch)
                for i in range(len(batch)):
                    writer.writerow([f"{scores[name][i]:.8g}" for name in predictor.outputs])
                rows += len(batch)
                bar.update(len(batch))
    return rows
