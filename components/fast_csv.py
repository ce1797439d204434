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

Splittable: every file is read in byte ranges of RANGE_BYTES (64 MiB), which Beam hands to
different workers (a stage break spreads them; each range is a splittable DoFn restriction
with an OffsetRestrictionTracker, so a runner that rebalances work can split a range further
while it runs). A range holds the records whose line starts inside it: it starts at the first
line start at or after its offset and ends with the line that crosses its end. Each range is
read twice: once to infer its column types (TFX's rule, the ranges' types combined into the
split's), once to convert it with the split's types; the conversion re-checks every cell and
fails naming the file, data row, column and value. Nothing is held between the passes. The
split an example lands in depends only on its serialized bytes, so ranges change no split.

Quoted line breaks: TFX's reader joins lines until their quotes balance, so a quoted cell may
hold line breaks. A file read whole (no larger than one range, or compressed) keeps that rule.
A range cannot know whether its first line starts inside a quoted cell, so in a file larger
than one range every record must be one line: a line with an odd number of quotes fails
naming the file and byte offset. Compressed files (.gz, .bz2, ...) cannot be split: one
worker reads such a file whole, and a warning says so.

The conversion (column_type, serialized_examples) also takes Arrow number columns, for the
Parquet reader (components/parquet_input.py). The executor writes each split shuffled in
bounded memory (components/shuffled_write.py) instead of through TFX's write_split, whose
Reshuffle held the whole split in the launching process.
"""
import functools
import io
import logging
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.restriction_trackers import (OffsetRange, OffsetRestrictionTracker,
                                                 UnsplittableRestrictionTracker)
from apache_beam.transforms.core import RestrictionProvider
from google.protobuf import json_format, struct_pb2
from pyarrow import csv as pa_csv
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx_bsl.coders import csv_decoder

from components.shuffled_write import ShuffledWriteExecutor

ColumnType = csv_decoder.ColumnType

# Cell forms whose pyarrow cast equals Python's int() / float() (checked against Python on
# random decimal strings, subnormals and overflow included); anything else goes to Python.
_PLAIN_INT = r"^-?[0-9]{1,18}$"  # at most 18 digits: always inside int64
_DIGITS = r"^[+-]?[0-9]+$"
_PLAIN_FLOAT = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"

_BLOCK_BYTES = 16 << 20
# Whole lines parsed, and claimed from the range's tracker, at a time inside a range.
_CHUNK_BYTES = 8 << 20
# Bytes per range that the executor reads files in (read when a pipeline is built).
RANGE_BYTES = 64 << 20
METRICS_NAMESPACE = "fast_csv"
_NEWLINE, _QUOTE = 10, 34


def _open(path: str):
    # Beam's filesystem, as TFX's reader uses (remote paths, compression by extension).
    return beam.io.filesystems.FileSystems.open(path)


class _Stream(io.RawIOBase):
    """A readable stream over Beam's decompressing file, whose `closed` is a method (truthy):
    pyarrow would take the file for closed."""

    def __init__(self, compressed_file):
        super().__init__()
        self._file = compressed_file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._file.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class CsvRange(NamedTuple):
    """Bytes [start, stop) of a CSV file: it holds the records whose line starts there (the
    record that crosses `stop` included). `whole`: the file is one range that one reader reads
    from its first byte to its last (a compressed file, or one no larger than a range), so
    quoted line breaks work there as in TFX's reader."""
    path: str
    start: int
    stop: int
    whole: bool


def csv_ranges(path: str, range_bytes: int) -> List[CsvRange]:
    """The file's byte ranges of `range_bytes` each (the last one shorter)."""
    if range_bytes < 1:
        raise ValueError(f"range_bytes must be positive, not {range_bytes}")
    size = beam.io.filesystems.FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    compression = CompressionTypes.detect_compression_type(path)
    if compression != CompressionTypes.UNCOMPRESSED:
        logging.warning("%s: %s input cannot be split into byte ranges; one worker reads and "
                        "converts the whole file (%d bytes). Uncompressed CSV is spread over "
                        "the workers in ranges of %d bytes.", path, compression, size,
                        range_bytes)
        return [CsvRange(path, 0, size, True)]
    if size <= range_bytes:
        return [CsvRange(path, 0, size, True)]
    return [CsvRange(path, start, min(start + range_bytes, size), False)
            for start in range(0, size, range_bytes)]


class _WholeFile(OffsetRange):
    """The restriction of a CsvRange with `whole` set: never split."""


class _RangeRestrictions(RestrictionProvider):
    """A CsvRange's restriction is its byte offsets; Beam may split a range further while it
    runs (dynamic work rebalancing), never a whole-file one."""

    def initial_restriction(self, csv_range: CsvRange) -> OffsetRange:
        return (_WholeFile if csv_range.whole else OffsetRange)(csv_range.start, csv_range.stop)

    def create_tracker(self, restriction: OffsetRange):
        tracker = OffsetRestrictionTracker(restriction)
        if isinstance(restriction, _WholeFile):
            return UnsplittableRestrictionTracker(tracker)
        return tracker

    def restriction_size(self, csv_range: CsvRange, restriction: OffsetRange) -> int:
        return restriction.size()


def _read_options(column_names: List[str], skip_rows: int) -> pa_csv.ReadOptions:
    return pa_csv.ReadOptions(column_names=column_names, skip_rows=skip_rows,
                              block_size=_BLOCK_BYTES)


def _parse_options(newlines_in_values: bool) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(delimiter=",", newlines_in_values=newlines_in_values,
                               ignore_empty_lines=True)


def _convert_options(column_names: List[str]) -> pa_csv.ConvertOptions:
    return pa_csv.ConvertOptions(column_types={name: pa.string() for name in column_names},
                                 strings_can_be_null=False, quoted_strings_can_be_null=False)


def _cannot_read(path: str, where: str, column_names: List[str], error: Exception):
    return ValueError(f"{path}: cannot read{where} as CSV with the {len(column_names)} columns "
                      f"{column_names}: {error}")


def _data_rows_before(path: str, offset: int, skip_header: bool) -> int:
    """Data rows (non-empty lines, the header not counted) before byte `offset`: only called
    to name the row of an error in a range, which holds no multi-line record."""
    rows = 0
    with _open(path) as f:
        while f.tell() < offset:
            line = f.readline()
            if not line:
                break
            rows += bool(line.rstrip(b"\r\n"))
    return rows - int(skip_header and offset > 0)


def _whole_file_batches(csv_range: CsvRange, column_names: List[str], skip_header: bool, tracker
                        ) -> Iterator[Tuple[pa.RecordBatch, Callable[[int], int]]]:
    """The whole file read in one stream, quoted line breaks allowed (as TFX's reader)."""
    if not tracker.try_claim(csv_range.start):
        return
    rows = 0
    compressed = (CompressionTypes.detect_compression_type(csv_range.path)
                  != CompressionTypes.UNCOMPRESSED)
    with _open(csv_range.path) as f:
        try:
            reader = pa_csv.open_csv(_Stream(f) if compressed else f, read_options=_read_options(column_names,
                                                                   int(skip_header)),
                                     parse_options=_parse_options(newlines_in_values=True),
                                     convert_options=_convert_options(column_names))
            for batch in reader:
                if batch.num_rows:
                    first = rows
                    yield batch, lambda index, first=first: first + index + 1
                    rows += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise _cannot_read(csv_range.path, "", column_names, e) from e
    tracker.try_claim(csv_range.stop)  # past the end: the whole file is done


def _lines_in_range(f, start: int, stop: int) -> Tuple[int, bytes]:
    """(begin, data): the lines that start in [start, stop) of the open file, from the first
    line start at or after `start` through the end of the line that crosses `stop`."""
    begin = 0
    if start > 0:
        f.seek(start - 1)
        begin = start - 1 + len(f.readline())  # the rest of a line that started earlier
        if begin >= stop:
            return begin, b""
    f.seek(begin)
    data = f.read(stop - begin)
    if data and not data.endswith(b"\n"):
        data += f.readline()
    return begin, data


def _range_batches(csv_range: CsvRange, column_names: List[str], skip_header: bool, tracker
                   ) -> Iterator[Tuple[pa.RecordBatch, Callable[[int], int]]]:
    """The records of one range of a file split into ranges: one record per line, read as
    chunks of whole lines, each claimed from the tracker by its last line's start."""
    path = csv_range.path
    with _open(path) as f:
        begin, data = _lines_in_range(f, csv_range.start, csv_range.stop)
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == _NEWLINE)
    quotes = np.flatnonzero(buffer == _QUOTE)
    if len(quotes):
        # A record is one line exactly when every line holds an even number of quotes (an
        # odd count means a quoted cell goes on past the line break, or an unclosed quote).
        odd = np.flatnonzero(np.searchsorted(quotes, newlines) % 2 == 1)
        if len(odd):
            line_start = int(newlines[odd[0] - 1]) + 1 if odd[0] else 0
            raise ValueError(
                f"{path}: the record at byte {begin + line_start} has a line break inside a "
                f"quoted cell (or an unclosed quote): {bytes(data[line_start:line_start + 200])!r}."
                f" A file larger than one range ({csv_range.stop - csv_range.start} bytes) is "
                f"read in byte ranges that start at line breaks, so its records must be one "
                f"line each; remove the line breaks from the cells (or split the file into "
                f"files of at most one range, which are read whole).")
    starts = np.concatenate(([0], newlines + 1))
    if starts[-1] == len(data):
        starts = starts[:-1]
    if csv_range.start == 0 and skip_header:
        starts = starts[1:]
    index = 0
    while index < len(starts):
        end = max(index + 1, int(np.searchsorted(starts, starts[index] + _CHUNK_BYTES)))
        claimed = tracker.try_claim(begin + int(starts[end - 1]))
        if not claimed:
            # Beam split this range while it ran: the lines before the new stop are still
            # this reader's (no split can happen below a claim attempt), the rest are not.
            new_stop = tracker.current_restriction().stop
            end = max(index, int(np.searchsorted(starts, new_stop - begin)))
            if end == index:
                return
        chunk_start = int(starts[index])
        chunk_end = int(starts[end]) if end < len(starts) else len(data)
        try:
            reader = pa_csv.open_csv(pa.BufferReader(data[chunk_start:chunk_end]),
                                     read_options=_read_options(column_names, 0),
                                     parse_options=_parse_options(newlines_in_values=False),
                                     convert_options=_convert_options(column_names))
            rows = 0
            for batch in reader:
                if batch.num_rows:
                    first = rows
                    yield batch, lambda i, first=first, at=begin + chunk_start: (
                        _data_rows_before(path, at, skip_header) + first + i + 1)
                    rows += batch.num_rows
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise _cannot_read(path, f" bytes {begin + chunk_start}-{begin + chunk_end}",
                               column_names, e) from e
        if not claimed:
            return  # the last claim attempt is at or past the stop: the range is done
        index = end
    tracker.try_claim(begin + len(data))  # at or past the range's stop: the range is done


def range_batches(csv_range: CsvRange, column_names: List[str], skip_header: bool,
                  tracker=None) -> Iterator[Tuple[pa.RecordBatch, Callable[[int], int]]]:
    """The range's rows in blocks, every column as text (an empty cell is ""), each with a
    function from a row's index in the block to its data row number in the file (1 = the
    first row after the header; empty lines not counted). `tracker`: the range's restriction
    tracker when Beam runs it (default: the whole range)."""
    if tracker is None:
        tracker = _RangeRestrictions().create_tracker(
            _RangeRestrictions().initial_restriction(csv_range))
    read = _whole_file_batches if csv_range.whole else _range_batches
    yield from read(csv_range, column_names, skip_header, tracker)


def _python_type(values: pa.Array, bound: ColumnType) -> ColumnType:
    """TFX's per-cell type rule over `values` (distinct cells), stopping at STRING."""
    result = bound
    infer = csv_decoder._InferValueType  # pylint: disable=protected-access
    for value in values.to_pylist():
        result = max(result, infer(value.encode()))
        if result == ColumnType.STRING:
            break
    return result


_INT64_MAX = np.iinfo(np.int64).max


def is_text(column: pa.Array) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def _native_type(column: pa.Array) -> ColumnType:
    """The type of a column of numbers (Arrow integers, floats or booleans; nulls are missing
    values): UNKNOWN when every value is missing, FLOAT for floats, INT for integers and
    booleans (0/1), STRING for unsigned integers beyond int64 (as TFX's rule makes them of
    their text)."""
    if column.null_count == len(column):
        return ColumnType.UNKNOWN
    if pa.types.is_floating(column.type):
        return ColumnType.FLOAT
    if pa.types.is_uint64(column.type) and pc.max(column).as_py() > _INT64_MAX:
        return ColumnType.STRING
    return ColumnType.INT


def column_type(column: pa.Array) -> ColumnType:
    """The type TFX's ColumnTypeInferrer infers from these cells (UNKNOWN when all empty): a
    text column (an empty cell is "") by TFX's per-cell rule, a column of numbers
    (_native_type) by its Arrow type."""
    if not is_text(column):
        return _native_type(column)
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


class BadCell(ValueError):
    """A cell that does not fit its column's inferred type (row index in its block)."""

    def __init__(self, index: int, cell: bytes, column_type: ColumnType):
        super().__init__(f"{cell!r} is not a {column_type.name} cell")
        self.index, self.cell, self.column_type = index, cell, column_type


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
                try:
                    cache[cell] = python_fn(cell)
                except ValueError as e:
                    raise BadCell(int(index), cell, column_type) from e
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


def _native_numbers(column: pa.Array, column_type: ColumnType) -> np.ndarray:
    """The values of a column of numbers as int64 (INT) or float32 (FLOAT); missing ones 0.
    Integers in a FLOAT column round to the nearest float64 and then float32, as Python's
    float() of their text does."""
    if column_type == ColumnType.INT:
        values = pc.cast(column, pa.int64()).fill_null(0)
        return values.to_numpy(zero_copy_only=False)
    values = pc.cast(column, pa.float64(), safe=False).fill_null(0.0)
    with np.errstate(over="ignore"):  # beyond float32: inf, as FloatList stores it
        return values.to_numpy(zero_copy_only=False).astype(np.float32)


def _serialized_features(column: pa.Array, column_type: ColumnType) -> pa.Array:
    """Each row's tf.train.Feature as TFX's handlers build it: one value per non-empty cell,
    an empty value list of the column's kind per empty cell, no kind at all when the column is
    empty everywhere. A column of numbers (an Arrow number type, nulls missing) is written
    from its values; in a STRING column (other data made it text) as Arrow's text of them."""
    if not is_text(column) and column_type == ColumnType.STRING:
        column = pc.cast(column, pa.string()).fill_null("")
    native = not is_text(column)
    present = column.is_valid() if native else pc.not_equal(pc.binary_length(column), 0)
    if column_type == ColumnType.UNKNOWN:
        if pc.any(present).as_py():  # the types came from other data than these rows
            index = int(np.argmax(present.to_numpy(zero_copy_only=False)))
            raise BadCell(index, str(column[index].as_py()).encode(), column_type)
        return pa.array([b""] * len(column), _BINARY)
    if column_type == ColumnType.STRING:
        values = _field(_VALUES_KEY, pc.cast(column, _BINARY))
    else:
        if native:
            numbers = _native_numbers(column, column_type)
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


def serialized_examples(batch: pa.RecordBatch, column_types: List[ColumnType]) -> pa.Array:
    """The rows as deterministically serialized tf.train.Examples (the feature map in the
    installed protobuf's deterministic key order), the bytes TFX's partition hashes. Columns
    are text (the CSV reader's: an empty cell is "") or Arrow numbers (column_type); a cell
    that does not fit its column's type raises BadCell with the column's name."""
    entries = []
    order = _deterministic_key_order(tuple(batch.schema.names))
    for index in order:
        name, column, column_type = (batch.schema.names[index], batch.column(index),
                                     column_types[index])
        key = name.encode()
        key_field = bytes([0x0A]) + _varints(np.array([len(key)]))[0].as_py() + key
        try:
            features = _serialized_features(column, column_type)
        except BadCell as bad:
            bad.column = name
            raise
        entry = _join(_constant(key_field), _field(0x12, features))
        entries.append(_field(0x0A, entry))  # Features.feature map entry
    return _field(0x0A, _join(*entries))  # Example.features


def range_types(csv_range: CsvRange, column_names: List[str], skip_header: bool,
                tracker=None) -> Dict[str, int]:
    """The column types (ColumnType values) TFX's rule infers from the range's rows;
    merge_types combines those of all ranges."""
    types = {name: ColumnType.UNKNOWN for name in column_names}
    for batch, _ in range_batches(csv_range, column_names, skip_header, tracker):
        for name, column in zip(column_names, batch.columns):
            if types[name] != ColumnType.STRING:
                types[name] = max(types[name], column_type(column))
    return {name: int(t) for name, t in types.items()}


def merge_types(per_range: Iterable[Dict[str, int]]) -> Dict[str, int]:
    result = {}
    for types in per_range:
        for name, t in types.items():
            result[name] = max(result.get(name, int(ColumnType.UNKNOWN)), t)
    return result


class _InferRangeTypes(beam.DoFn):
    def __init__(self, column_names: List[str], skip_header: bool):
        self._column_names = column_names
        self._skip_header = skip_header

    def process(self, csv_range: CsvRange,
                tracker=beam.DoFn.RestrictionParam(_RangeRestrictions())
                ) -> Iterable[Dict[str, int]]:
        yield range_types(csv_range, self._column_names, self._skip_header, tracker)


def range_examples(csv_range: CsvRange, column_names: List[str], skip_header: bool,
                   types: Dict[str, int], tracker=None) -> Iterator[bytes]:
    """A range's rows as deterministically serialized tf.Examples with the given column
    types (inferred over all ranges). A cell that does not fit its type fails naming the
    file, the data row, the column and the value."""
    column_types = [ColumnType(types[name]) for name in column_names]
    for batch, row_number in range_batches(csv_range, column_names, skip_header, tracker):
        try:
            serialized = serialized_examples(batch, column_types)
        except BadCell as bad:
            raise ValueError(
                f"{csv_range.path}: data row {row_number(bad.index)}, column "
                f"{bad.column!r}: the value {bad.cell.decode(errors='replace')!r} is not of the "
                f"column's type {bad.column_type.name} (inferred over all rows of the split)"
            ) from bad
        yield from serialized.to_pylist()


class _RangeToExamples(beam.DoFn):
    """A range's rows -> deterministically serialized tf.Examples. Counts the ranges each
    worker process converted (metric `ranges_converted_by_process_<pid>`)."""

    def __init__(self, column_names: List[str], skip_header: bool):
        self._column_names = column_names
        self._skip_header = skip_header
        self._ranges = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "ranges_converted")
        self._rows = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "rows_converted")
        self._ranges_here = None

    def setup(self):
        self._ranges_here = beam.metrics.Metrics.counter(
            METRICS_NAMESPACE, f"ranges_converted_by_process_{os.getpid()}")

    def process(self, csv_range: CsvRange, types: Dict[str, int],
                tracker=beam.DoFn.RestrictionParam(_RangeRestrictions())) -> Iterable[bytes]:
        rows = 0
        for example in range_examples(csv_range, self._column_names, self._skip_header, types,
                                      tracker):
            rows += 1
            yield example
        self._ranges.inc()
        self._ranges_here.inc()
        self._rows.inc(rows)


def read_csv_examples(pipeline: beam.Pipeline, files: List[str], column_names: List[str],
                      skip_header: bool, range_bytes: Optional[int] = None
                      ) -> beam.pvalue.PCollection:
    """Serialized tf.Examples of all rows of `files` (one split), column types inferred over
    all of them. Each file is read in byte ranges of `range_bytes` (default RANGE_BYTES; see
    csv_ranges), spread over
    the workers; each range is read twice, once to infer its column types and once to
    convert it with the types of the whole split, so no data is held between the passes."""
    if len(set(column_names)) != len(column_names):
        raise ValueError(f"{files[0]}: duplicate column names in {column_names}")
    range_bytes = RANGE_BYTES if range_bytes is None else range_bytes
    ranges = (pipeline
              | "CreateFilenames" >> beam.Create(files)
              | "SplitIntoRanges" >> beam.FlatMap(csv_ranges, range_bytes)
              # a stage break, so that the ranges of one file go to different workers
              | "SpreadRanges" >> beam.Reshuffle())
    types = beam.pvalue.AsSingleton(
        ranges
        | "InferRangeTypes" >> beam.ParDo(_InferRangeTypes(column_names, skip_header))
        | "MergeTypes" >> beam.CombineGlobally(merge_types))
    return ranges | "ToTFExample" >> beam.ParDo(_RangeToExamples(column_names, skip_header),
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


class Executor(ShuffledWriteExecutor):
    """Drop-in for TFX's CsvExampleGen executor (same examples, same splits), writing each
    split shuffled in bounded memory (components/shuffled_write.py) instead of through TFX's
    Reshuffle."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToSerializedExample


EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def string_lists_config(lists: Dict[str, Iterable[str]]) -> example_gen_pb2.CustomConfig:
    """An ExampleGen custom_config holding named lists of strings (a Struct): how the headerless
    CSV and the Parquet executors get their column names from the dataset spec."""
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct_pb2.Struct(fields={
        key: struct_pb2.Value(list_value=struct_pb2.ListValue(
            values=[struct_pb2.Value(string_value=v) for v in values]))
        for key, values in lists.items()}))
    return config


def string_lists_from_config(exec_properties: Dict[str, Any]) -> Dict[str, List[str]]:
    """The named string lists of `string_lists_config` in an executor's exec_properties ({}
    without a custom_config; other fields, such as the pipeline's code version, are left out).
    TFX hands the custom_config over as JSON text or as the proto."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    config = example_gen_pb2.CustomConfig()
    if isinstance(raw, str):
        json_format.Parse(raw, config)
    elif raw is not None:
        config.CopyFrom(raw)
    fields = struct_pb2.Struct()
    if not config.custom_config.Unpack(fields):
        return {}
    return {key: [v.string_value for v in value.list_value.values]
            for key, value in fields.fields.items() if value.HasField("list_value")}
