"""Pre-flight checks of a run's input and model, before any component runs.

TFX's CsvExampleGen and Transform reject bad input late and vaguely (a traceback from a Beam
worker minutes into the run), or not at all (a NaN label trained on). `check_csv_files` reads the
input once with Python's csv module and stops at the first problem with one message naming the
file, the row (the header is row 1), the field, the value and what to do:

- the file: empty, not UTF-8, a UTF-8 byte-order mark (ExampleGen would read the first column as
  '\\ufefflabel'), gzip-compressed with a header line (ExampleGen reads the header of a .gz file
  without decompressing it; headerless specs with `columns:` read .gz files), a header that
  differs from the other files of its folder (ExampleGen refuses such a folder);
- a row: a field count other than the header's, unbalanced quotes;
- a dense cell that is not a number, or an integer beyond int64 (ExampleGen would then read the
  whole column as text); NaN/inf/1e300 are numbers: Transform maps them (components/transform.py);
- a label cell that is missing or outside its domain (0/1 for a binary label without
  binary_threshold/mapping, a finite number otherwise, a mapping key unless `unmapped` is set):
  counted, with the first offender named, because such rows must not be trained on silently.

CRLF line endings are fine (ExampleGen strips them too). `check_split_sizes` refuses inputs so
small that a split would likely be empty: by the shares for a hash or time-order split, by the
rows counted per split for a split by files (the spec's `split.files` patterns, or `train/`,
`validation/` and `test/` folders) or by a column's values (`split_row_counts`).
`check_model` builds the model from the spec's feature columns with dummy vocabulary sizes, so a
wrong model name, a misspelt argument or an impossible configuration fails before any component
runs.
"""
import csv
import difflib
import fnmatch
import gzip
import io
import math
import os
from collections import Counter, defaultdict
from typing import Dict, List, Optional

# The expected size of the smallest split must reach this: with an expected 10 rows, a hash split
# leaves it empty with probability (1 - share)^rows < 1e-4 for the usual 9:1 split.
MIN_ROWS_PER_SPLIT = 10
# The split roles (components.dataset_spec.SPLIT_NAMES, and the split folders of
# pipeline.spans.SPLIT_FOLDERS; not imported, so that this check imports nothing of the components)
SPLIT_NAMES = ("train", "validation", "test")
_INT64 = 2**63
_BOM = b"\xef\xbb\xbf"


class InputCheckError(ValueError):
    """Bad input: the message names the file, row, field and value, and what to do."""


def _is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _text(path):
    raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _number_problem(cell):
    """Why `cell` is not a number ExampleGen reads as one (None when it is)."""
    text = cell.strip()
    try:
        value = int(text)
    except ValueError:
        pass
    else:
        if -_INT64 <= value < _INT64:
            return None
        return (f"is an integer beyond int64 (ExampleGen would read the whole column as text); "
                f"write it as a float, e.g. {float(value):.3e}")
    try:
        float(text)
    except ValueError:
        return "is not a number"
    return None


def _label_problem(label, cell):
    """Why `cell` cannot be the value of `label` (None when it can); '' is a missing label."""
    text = cell.strip()
    if label.mapping is not None:
        if text in label.mapping or label.unmapped is not None:
            return None
        if not text:
            return "is missing (set `unmapped` in the spec to give empty cells a value)"
        return (f"is not one of the label's mapping keys {sorted(label.mapping)} (or set "
                f"`unmapped`)")
    if not text:
        return "is missing"
    try:
        value = float(text)
    except ValueError:
        return "is not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    if label.task == "binary" and label.binary_threshold is None and value not in (0.0, 1.0):
        return ("is outside the binary label's domain {0, 1} (use binary_threshold or mapping "
                "in the spec to derive 0/1 from it)")
    return None


def check_csv_files(files: List[str], spec, split_values: Optional[Counter] = None
                    ) -> Dict[str, int]:
    """Checks every CSV input file (see the module docstring); returns {file: data rows}.
    Raises InputCheckError at the first problem (labels: after the whole file, with a count).
    `split_values`: counts the rows per value of the spec's `split.by` column into it."""
    rows = {}
    headers = defaultdict(list)  # folder -> [(file, header)]
    for path in sorted(files):
        rows[path] = _check_file(path, spec, headers[os.path.dirname(path)], split_values)
    return rows


def _value_text(cell):
    """A cell as the spec's split `values` hold it (components.splits.value_text: integral
    numbers as decimal integers)."""
    text = cell.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _check_file(path, spec, folder_headers, split_values=None):
    name = path
    if os.path.getsize(path) == 0:
        raise InputCheckError(f"{name}: empty file (a CSV file needs a header line and rows); "
                              f"remove it or fill it")
    gz = _is_gzip(path)
    if gz and spec.columns is None:
        raise InputCheckError(
            f"{name}: gzip-compressed CSV with a header line: TFX's CsvExampleGen reads the "
            f"header of a .gz file without decompressing it; decompress it first (gunzip)")
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        if f.read(3) == _BOM:
            raise InputCheckError(
                f"{name}: starts with a UTF-8 byte-order mark (ExampleGen would read the first "
                f"column's name with it); save the file without BOM, e.g. "
                f"sed -i '1s/^\\xEF\\xBB\\xBF//' {name}")
    dense = {f.name for f in spec.dense}
    labels = {}
    for label in spec.labels:
        labels.setdefault(label.column, []).append(label)
    bad_labels = {}  # (column, problem) -> [count, first row, first value]
    count = 0
    with _text(path) as f:
        reader = csv.reader(f, strict=True)
        header = None
        start = 1
        try:
            if spec.columns is None:
                first = next(reader, None)
                header = [c.strip() for c in first or []]
                start = reader.line_num + 1
                for other, other_header in folder_headers[:1]:
                    if other_header != header:
                        diff = [f"column {i + 1}: {a!r} vs {b!r}" for i, (a, b) in
                                enumerate(zip(header, other_header)) if a != b][:3]
                        if len(header) != len(other_header):
                            diff.append(f"{len(header)} vs {len(other_header)} columns")
                        raise InputCheckError(
                            f"{name}: its header differs from {other}'s ({'; '.join(diff)}); "
                            f"files of one folder must share one header (ExampleGen refuses "
                            f"the folder): fix the header or move the file")
                folder_headers.append((path, header))
            else:
                header = list(spec.columns)
            index = {c: i for i, c in enumerate(header)}
            checked = [(c, index[c]) for c in list(labels) + sorted(dense) if c in index]
            split_column = index.get(spec.split_by) if split_values is not None else None
            for cells in reader:
                row = start
                start = reader.line_num + 1
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # blank lines are skipped by ExampleGen too
                if len(cells) != len(header):
                    raise InputCheckError(
                        f"{name} row {row}: {len(cells)} fields, the header has {len(header)}; "
                        f"fix the row (a comma inside a value needs quotes) or remove it")
                count += 1
                if split_column is not None:
                    split_values[_value_text(cells[split_column])] += 1
                for column, i in checked:
                    cell = cells[i]
                    if column in dense and cell.strip():
                        problem = _number_problem(cell)
                        if problem:
                            raise InputCheckError(
                                f"{name} row {row}, field {column}: {cell!r} {problem} (dense "
                                f"feature: leave the cell empty for a missing value, or declare "
                                f"{column} under sparse)")
                    for label in labels.get(column, ()):
                        problem = _label_problem(label, cell)
                        if problem:
                            entry = bad_labels.setdefault((column, problem), [0, row, cell])
                            entry[0] += 1
        except csv.Error as e:
            raise InputCheckError(
                f"{name} row {start}: unbalanced quotes or a stray quote ({e}); a quoted field "
                f"opened on this row is not closed properly: fix the quoting") from None
        except UnicodeDecodeError as e:
            raise InputCheckError(f"{name} row {start}: not UTF-8 text ({e.reason} at byte "
                                  f"{e.start} of a read block); re-encode the file as UTF-8") \
                from None
    if header is not None and spec.columns is None and count == 0:
        raise InputCheckError(f"{name}: only a header line, no rows")
    if bad_labels:
        (column, problem), (n, row, cell) = next(iter(bad_labels.items()))
        others = sum(v[0] for v in bad_labels.values()) - n
        raise InputCheckError(
            f"{name}: {n} of {count} rows have a label that cannot be trained on: field "
            f"{column} {problem} (first: row {row}, value {cell!r})"
            + (f"; {others} more rows with other label problems" if others else "")
            + "; drop or fix these rows")
    return count


def _is_split_folder(folder):
    """A train/, validation/ or test/ folder beside the other two (pipeline.spans.split_folders:
    such folders decide the splits)."""
    parent = os.path.dirname(folder)
    return (os.path.basename(folder) in SPLIT_NAMES
            and all(os.path.isdir(os.path.join(parent, name)) for name in SPLIT_NAMES))


def split_row_counts(spec, rows: Dict[str, int],
                     split_values: Optional[Counter] = None) -> Optional[Dict[str, int]]:
    """{split: rows} where the input decides each row's split without shares: the spec's
    `split.files` patterns (a file in every split whose pattern matches its path's end, as
    ExampleGen's input splits read it), train/validation/test folders, or the values of the
    `split.by` column (`split_values`, counted by check_csv_files); None for a hash or
    time-order split, whose sizes follow the shares. `rows`: {file: data rows}."""
    if spec.split_order == "values" and split_values is not None:
        return {name: sum(split_values[v] for v in values) for name, values in spec.split_values}
    if spec.split_order == "files":
        return {name: sum(n for path, n in rows.items()
                          if fnmatch.fnmatch(path, os.path.join("*", pattern)))
                for name, pattern in spec.split_files}
    folders = {path: os.path.dirname(os.path.abspath(path)) for path in rows}
    if rows and all(_is_split_folder(folder) for folder in folders.values()):
        return {name: sum(n for path, n in rows.items()
                          if os.path.basename(folders[path]) == name) for name in SPLIT_NAMES}
    return None


def check_split_sizes(rows: int, spec, source: str, counted: Optional[Dict[str, int]] = None):
    """Refuses data so small that a split would likely be empty: with `counted` (rows per split,
    split_row_counts), a split without rows; else a share of the rows (hash or time order)
    expected under MIN_ROWS_PER_SPLIT."""
    if counted is not None:
        how = f"values of {spec.split_by}" if spec.split_order == "values" else "files"
        empty = [name for name, n in counted.items() if n == 0]
        if empty:
            sizes = ", ".join(f"{name} {n}" for name, n in counted.items())
            raise InputCheckError(
                f"{source}: the {' and '.join(empty)} split{'s' * (len(empty) > 1)} would get no "
                f"rows (rows per split, assigned by {how}: {sizes}); give each split rows")
        return
    weights = dict(spec.split)
    total = sum(weights.values())
    smallest = min(weights, key=weights.get)
    needed = math.ceil(MIN_ROWS_PER_SPLIT * total / weights[smallest])
    how = "by hash" if spec.split_order == "hash" else f"in time order of {spec.split_by}"
    if rows < needed:
        raise InputCheckError(
            f"{source}: {rows} rows; the {smallest} split ({weights[smallest]}/{total} of the "
            f"rows, assigned {how}) would get ~{rows * weights[smallest] / total:.1f} rows and "
            f"may be empty: give at least {needed} rows")


def check_model(spec, model_name: str, model_args: dict):
    """Builds `model_name(**model_args)` from the spec's feature columns with dummy vocabulary
    sizes (no Transform output needed) so that a wrong name, a misspelt argument or an
    impossible configuration fails before any component runs."""
    import inspect

    from ctr_models.models import MODEL_NAMES, get_model_fn
    try:
        model_fn = get_model_fn(model_name)
    except ValueError:
        by_lower = {n.lower(): n for n in MODEL_NAMES}
        close = [by_lower[n] for n in difflib.get_close_matches(str(model_name).lower(),
                                                                list(by_lower), n=3, cutoff=0.6)]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise InputCheckError(f"--model {model_name}: no such model; {hint}models: "
                              f"{', '.join(MODEL_NAMES)}") from None
    from components.model_builder import COLUMN_ARGS, build_model, feature_columns
    params = [p for p in inspect.signature(model_fn).parameters if p not in COLUMN_ARGS]
    for key in model_args:
        if key not in params and key not in COLUMN_ARGS:
            close = difflib.get_close_matches(key, params, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputCheckError(f"--model-arg {key}: {model_fn.__name__} has no argument "
                                  f"{key!r}; {hint}it takes {params}")
    sizes = {group: 1 + len(members) + 2 for group, members in spec.vocab_groups().items()}
    linear, dnn = feature_columns(spec, sizes)
    from tf_keras import backend

    from ctr_models.tracing import skip_autograph_of_graph_safe_code
    # as the Trainer does: converting tf_keras' own code took ~13 s here
    skip_autograph_of_graph_safe_code()
    try:
        build_model(model_fn.__name__, spec, linear, dnn, model_args)
    except Exception as e:  # any failure here is the configuration's
        message = " ".join(str(e).split())[:400]
        dims = sorted({f.embedding_dim for f in spec.categorical()})
        hint = (f" (the spec's features have embedding_dim {dims}: a model that multiplies "
                f"embeddings needs one embedding_dim)" if len(dims) > 1 else "")
        raise InputCheckError(
            f"--model {model_fn.__name__} {model_args or ''} cannot be built from dataset spec "
            f"{spec.source}'s features: {type(e).__name__}: {message}{hint}") from None
    finally:
        backend.clear_session()


def check_input(spec, file_groups: Dict[str, List[str]]):
    """The pre-flight scan of a run's input: {what ExampleGen splits (the data, or a span):
    [its files]}. CSV files are checked row by row (check_csv_files); each group's splits must get
    rows (check_split_sizes, by the split's kind). TFRecord input is left to ExampleGen."""
    if spec.format != "csv":
        return
    for source, files in file_groups.items():
        if not files:
            raise InputCheckError(f"{source}: no input files")
        split_values = Counter() if spec.split_order == "values" else None
        rows = check_csv_files(files, spec, split_values)
        check_split_sizes(sum(rows.values()), spec, source,
                          split_row_counts(spec, rows, split_values))
