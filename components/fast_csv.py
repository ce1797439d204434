"""CsvExampleGen executor that parses and converts CSV in C++ (pyarrow), with TFX's output.

TFX 1.16's CsvExampleGen converts every cell in Python: one pass to infer each column's type
(INT -> FLOAT -> STRING over all rows) and one to build each tf.Example field by field; on
100k rows x 40 columns that was most of the component's minute. This executor reads each file
with pyarrow's CSV reader in large blocks (every column as text), infers the column types over
all files of the split with TFX's rule (tfx_bsl.coders.csv_decoder), casts whole columns with
pyarrow.compute and writes each block's tf.Examples column by column in protobuf's wire
format with pyarrow.compute (no Python per cell or per example).

Its output is TFX's, example for example: the same column names (the header line, as TFX
splits it), the same inferred types, an empty cell as an empty value list of the column's type,
a column empty in every row as a feature without a kind, FLOAT values as float32. Only the
cells in the plain forms pyarrow's parser reads exactly as Python does (`-?[0-9]{1,18}` for
INT, `-?digits[.digits][e[+-]digits]` for FLOAT) are cast by pyarrow; every other form
(" 7", "+5", "1_000", "inf", 19-digit integers, ...) is judged and converted by Python's
int()/float() as TFX does. The examples are emitted as their deterministic serialization (the
feature map in protobuf's deterministic key order; tfx_bsl's C++ encoder writes it in hash
order), which is the key the base executor hashes to pick each example's split, so every
example lands in the split TFX would put it in, and downstream components read the same
examples.

Quoting follows the CSV rules TFX's reader follows (quoted commas, doubled quotes, quoted line
breaks); blank lines are skipped; Windows line endings work.
"""
import functools
import os
from typing import Any, Dict, Iterable, List, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from pyarrow import csv as pa_csv
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx_bsl.coders import csv_decoder

ColumnType = csv_decoder.ColumnType

# Cell forms whose pyarrow cast equals Python's int() / float() (checked against Python on
# random decimal strings, subnormals and overflow included); anything else goes to Python.
_PLAIN_INT = r"^-?[0-9]{1,18}$"  # at most 18 digits: always inside int64
_DIGITS = r"^[+-]?[0-9]+$"
_PLAIN_FLOAT = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"

_BLOCK_BYTES = 16 << 20


def _open(path: str):
    # Beam's filesystem, as TFX's reader uses (remote paths, compression by extension).
    return beam.io.filesystems.FileSystems.open(path)


def _record_batches(path: str, column_names: List[str], skip_header: bool
                    ) -> Iterable[pa.RecordBatch]:
    """The file's rows in blocks, every column as text (an empty cell is "")."""
    read_options = pa_csv.ReadOptions(column_names=column_names, skip_rows=int(skip_header),
                                      block_size=_BLOCK_BYTES)
    parse_options = pa_csv.ParseOptions(delimiter=",", newlines_in_values=True,
                                        ignore_empty_lines=True)
    convert_options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in column_names},
        strings_can_be_null=False, quoted_strings_can_be_null=False)
    with _open(path) as f:
        try:
            reader = pa_csv.open_csv(f, read_options=read_options,
                                     parse_options=parse_options,
                                     convert_options=convert_options)
            for batch in reader:
                if batch.num_rows:
                    yield batch
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: cannot read as CSV with the {len(column_names)} columns "
                             f"{column_names}: {e}") from e


def _python_type(values: pa.Array, bound: ColumnType) -> ColumnType:
    """TFX's per-cell type rule over `values` (distinct cells), stopping at STRING."""
    result = bound
    infer = csv_decoder._InferValueType  # pylint: disable=protected-access
    for value in values.to_pylist():
        result = max(result, infer(value.encode()))
        if result == ColumnType.STRING:
            break
    return result


def _column_type(column: pa.Array) -> ColumnType:
    """The type TFX's ColumnTypeInferrer infers from these cells (UNKNOWN when all empty)."""
    present = pc.filter(column, pc.not_equal(pc.binary_length(column), 0))
    if len(present) == 0:
        return ColumnType.UNKNOWN
    plain_int = pc.match_substring_regex(present, _PLAIN_INT)
    rest = pc.filter(present, pc.invert(plain_int))
    if len(rest) == 0:
        return ColumnType.INT
    plain_float = pc.and_(pc.match_substring_regex(rest, _PLAIN_FLOAT),
                          pc.invert(pc.match_substring_regex(rest, _DIGITS)))
    result = ColumnType.FLOAT if pc.any(plain_float).as_py() else ColumnType.INT
    others = pc.unique(pc.filter(rest, pc.invert(plain_float)))
    return _python_type(others, result)


def _cast(column: pa.Array, plain: pa.Array, column_type: ColumnType) -> np.ndarray:
    """Values of all cells (empty ones arbitrary): plain forms cast by pyarrow, the rest by
    Python's int()/float() on the cell bytes, as TFX's handlers do."""
    arrow_type, python_fn = ((pa.int64(), int) if column_type == ColumnType.INT
                             else (pa.float64(), float))
    values = pc.cast(pc.if_else(plain, column, "0"), arrow_type).to_numpy(zero_copy_only=False)
    others = np.flatnonzero(pc.invert(plain).to_numpy(zero_copy_only=False)
                            & (pc.binary_length(column).to_numpy(zero_copy_only=False) > 0))
    if len(others):
        values = values.copy()
        cache = {}
        for index in others:
            cell = column[int(index)].as_py().encode()
            if cell not in cache:
                cache[cell] = python_fn(cell)
            values[index] = cache[cell]
    if column_type == ColumnType.FLOAT:
        with np.errstate(over="ignore"):  # beyond float32: inf, as FloatList stores it
            values = values.astype(np.float32)
    return values


_BINARY = pa.large_binary()


def _constant(data: bytes) -> pa.Scalar:
    return pa.scalar(data, _BINARY)


def _varints(values: np.ndarray) -> pa.Array:
    """Protobuf base-128 varints of non-negative (or two's-complement int64) values."""
    values = values.astype(np.uint64)
    count = len(values)
    if count == 0 or values.max() < 0x80:  # the common case: lengths of small messages
        data, lengths = values.astype(np.uint8), np.ones(count, dtype=np.int64)
    else:
        groups = np.empty((count, 10), dtype=np.uint8)
        rest = values.copy()
        for j in range(10):
            groups[:, j] = (rest & np.uint64(0x7F)).astype(np.uint8)
            rest >>= np.uint64(7)
        nonzero = groups != 0
        lengths = np.where(nonzero.any(axis=1), 10 - np.argmax(nonzero[:, ::-1], axis=1), 1)
        position = np.arange(10)
        groups |= ((position < (lengths - 1)[:, None]) * 0x80).astype(np.uint8)
        data = groups[position < lengths[:, None]]
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(
        _BINARY, count, [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def _fixed_width(data: np.ndarray, width: int) -> pa.Array:
    offsets = np.arange(len(data) + 1, dtype=np.int64) * width
    return pa.LargeBinaryArray.from_buffers(
        _BINARY, len(data), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, _constant(b""))


def _field(tag: int, payload: pa.Array) -> pa.Array:
    """Each row's length-delimited field `tag` (a one-byte key) holding `payload`."""
    lengths = pc.binary_length(payload).to_numpy(zero_copy_only=False)
    return _join(_constant(bytes([tag])), _varints(lengths), payload)


# tf.train.Feature's oneof kind -> its field key; BytesList/FloatList/Int64List keep their
# values in field 1 (packed for numbers)
_KIND_KEY = {ColumnType.STRING: 0x0A, ColumnType.FLOAT: 0x12, ColumnType.INT: 0x1A}
_VALUES_KEY = 0x0A


def _serialized_features(column: pa.Array, column_type: ColumnType) -> pa.Array:
    """Each row's tf.train.Feature as TFX's handlers build it: one value per non-empty cell,
    an empty value list of the column's kind per empty cell, no kind at all when the column is
    empty everywhere."""
    if column_type == ColumnType.UNKNOWN:
        return pa.array([b""] * len(column), _BINARY)
    present = pc.not_equal(pc.binary_length(column), 0)
    if column_type == ColumnType.STRING:
        values = _field(_VALUES_KEY, pc.cast(column, _BINARY))
    else:
        regex = _PLAIN_INT if column_type == ColumnType.INT else _PLAIN_FLOAT
        numbers = _cast(column, pc.match_substring_regex(column, regex), column_type)
        values = (_varints(numbers.view(np.uint64)) if column_type == ColumnType.INT
                  else _fixed_width(numbers.astype("<f4"), 4))
        values = _field(_VALUES_KEY, values)  # the packed field of a one-value list
    kind = _KIND_KEY[column_type]
    return pc.if_else(present, _field(kind, values), _constant(bytes([kind, 0])))


def _read_varint(data: bytes, position: int):
    value = shift = 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if byte < 0x80:
            return value, position


@functools.lru_cache(maxsize=None)
def _deterministic_key_order(names: Tuple[str, ...]) -> List[int]:
    """The order in which the installed protobuf's deterministic serialization writes these
    feature names (upb's key order is not plain sorting: "C10" comes before "C1"), read off
    the wire of a probe Example."""
    probe = tf.train.Example()
    for name in names:
        probe.features.feature[name].SetInParent()
    data = probe.features.SerializeToString(deterministic=True)
    index = {name.encode(): i for i, name in enumerate(names)}
    order, position = [], 0
    while position < len(data):  # map entries: 0x0A len (0x0A key_len key 0x12 0x00)
        entry_length, start = _read_varint(data, position + 1)
        key_length, key_start = _read_varint(data, start + 1)
        order.append(index[data[key_start:key_start + key_length]])
        position = start + entry_length
    return order


def _serialized_examples(batch: pa.RecordBatch, column_types: List[ColumnType]) -> pa.Array:
    """The rows as deterministically serialized tf.train.Examples (the feature map in the
    installed protobuf's deterministic key order), the bytes TFX's partition hashes."""
    entries = []
    order = _deterministic_key_order(tuple(batch.schema.names))
    for index in order:
        name, column, column_type = (batch.schema.names[index], batch.column(index),
                                     column_types[index])
        key = name.encode()
        key_field = bytes([0x0A]) + _varints(np.array([len(key)]))[0].as_py() + key
        entry = _join(_constant(key_field),
                      _field(0x12, _serialized_features(column, column_type)))
        entries.append(_field(0x0A, entry))  # Features.feature map entry
    return _field(0x0A, _join(*entries))  # Example.features


class _InferFileTypes(beam.DoFn):
    def __init__(self, column_names: List[str], skip_header: bool):
        self._column_names = column_names
        self._skip_header = skip_header

    def process(self, path: str) -> Iterable[Dict[str, int]]:
        types = {name: ColumnType.UNKNOWN for name in self._column_names}
        for batch in _record_batches(path, self._column_names, self._skip_header):
            for name, column in zip(self._column_names, batch.columns):
                if types[name] != ColumnType.STRING:
                    types[name] = max(types[name], _column_type(column))
        yield {name: int(t) for name, t in types.items()}


def _merge_types(per_file: Iterable[Dict[str, int]]) -> Dict[str, int]:
    result = {}
    for types in per_file:
        for name, t in types.items():
            result[name] = max(result.get(name, int(ColumnType.UNKNOWN)), t)
    return result


class _FileToExamples(beam.DoFn):
    """A file's rows -> deterministically serialized tf.Examples."""

    def __init__(self, column_names: List[str], skip_header: bool):
        self._column_names = column_names
        self._skip_header = skip_header

    def process(self, path: str, types: Dict[str, int]) -> Iterable[bytes]:
        column_types = [ColumnType(types[name]) for name in self._column_names]
        for batch in _record_batches(path, self._column_names, self._skip_header):
            yield from _serialized_examples(batch, column_types).to_pylist()


def read_csv_examples(pipeline: beam.Pipeline, files: List[str], column_names: List[str],
                      skip_header: bool) -> beam.pvalue.PCollection:
    """Serialized tf.Examples of all rows of `files` (one split), column types inferred over
    all of them."""
    if len(set(column_names)) != len(column_names):
        raise ValueError(f"{files[0]}: duplicate column names in {column_names}")
    paths = pipeline | "CreateFilenames" >> beam.Create(files)
    types = beam.pvalue.AsSingleton(
        paths
        | "InferFileTypes" >> beam.ParDo(_InferFileTypes(column_names, skip_header))
        | "MergeTypes" >> beam.CombineGlobally(_merge_types))
    return paths | "ToTFExample" >> beam.ParDo(_FileToExamples(column_names, skip_header),
                                                types)


def split_files(exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    files = fileio.glob(pattern)
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    return files


@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
class _CsvToSerializedExample(beam.PTransform):
    """One split's CSV files (each with the same header line) -> serialized tf.Examples."""

    def __init__(self, exec_properties: Dict[str, Any], split_pattern: str):
        super().__init__()
        self._files = split_files(exec_properties, split_pattern)
        # TFX's own header rule (first line, stripped, split on commas).
        self._column_names = io_utils.load_csv_column_names(self._files[0])
        for path in self._files[1:]:
            if io_utils.load_csv_column_names(path) != self._column_names:
                raise RuntimeError(f"Files in same split {split_pattern} have different "
                                   f"header: {path} vs {self._files[0]}")

    def expand(self, pipeline):
        return read_csv_examples(pipeline, self._files, self._column_names, skip_header=True)


class Executor(BaseExampleGenExecutor):
    """Drop-in for TFX's CsvExampleGen executor (same examples, same splits)."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToSerializedExample


EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
