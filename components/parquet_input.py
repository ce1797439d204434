"""ExampleGen executor for Parquet files (dataset spec `format: parquet`).

The examples are those the CSV path (components/fast_csv.py) writes for the same rows, in the
same splits: one feature per column, its type inferred over all rows of the split with TFX's
rule (INT -> FLOAT -> STRING), a missing value as an empty value list of the column's type, a
column missing in every row as a feature without a kind, FLOAT values as float32. Parquet
columns map as follows:

- integer columns -> INT (unsigned values beyond int64 make the column STRING, as their text
  does in CSV); booleans -> INT 0/1; floating-point columns -> FLOAT (NaN stays a value, as the
  CSV cell "nan" does); a null is a missing value;
- text columns (string, binary as UTF-8, dictionary-encoded text) -> TFX's per-cell rule, as
  for CSV cells: a text column of numbers is a number column, and an empty string or a null is a
  missing value (an empty CSV cell);
- a column that is INT in one file and FLOAT (or STRING) in another takes the wider type for
  the whole split, as a CSV column does; numbers in a STRING column are written as Arrow's text
  of them;
- other types (timestamps, dates, decimals, lists, structs, ...) are refused, naming the file,
  row group, row, column and a value: cast them to integers, floats or text when writing the
  file.

The columns read are the spec's `columns` when given (other columns of the files are skipped),
else every column of the first file, which every file of the split must then have exactly.
Every column the spec reads must be in every file: a missing one fails naming the file and the
column before any row is converted.

Splittable, bounded memory: one unit of work is one row group (Beam spreads them over the
workers), read in record batches of BATCH_ROWS; like a CSV range, each row group is read twice
(its column types, then its conversion with the split's types) and nothing is held between the
passes. Numeric columns' types come from the row group's statistics when they hold the null
count, so the first pass reads only text columns. The serialized examples are the bytes TFX's
partition hashes, so every row lands in the split the CSV path gives it.
"""
import contextlib
import logging
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import fast_csv
from components.shuffled_write import ShuffledWriteExecutor

ColumnType = fast_csv.ColumnType
# Rows per record batch inside a row group: bounds the memory of one conversion step.
BATCH_ROWS = 64 * 1024
METRICS_NAMESPACE = "parquet_input"
COLUMNS_KEY = "columns"  # the columns to read ([]: all of the first file's)
REQUIRED_KEY = "required_columns"  # the columns the dataset spec reads


class RowGroup(NamedTuple):
    """One row group of a Parquet file: `first_row` is the file's row index of its first row."""
    path: str
    index: int
    first_row: int
    rows: int


@contextlib.contextmanager
def _open(path: str) -> Iterator[pq.ParquetFile]:
    """The file through Beam's filesystems (local or object storage), read as it is (a
    Parquet file's pages carry their own compression)."""
    with beam.io.filesystems.FileSystems.open(
            path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        yield pq.ParquetFile(f)


def file_columns(path: str) -> List[str]:
    """The top-level column names of a Parquet file (read from its footer)."""
    with _open(path) as parquet:
        return list(parquet.schema_arrow.names)


def row_groups(path: str, columns: Sequence[str]) -> List[RowGroup]:
    """The file's row groups, after checking it holds every column of `columns`."""
    with _open(path) as parquet:
        names = parquet.schema_arrow.names
        metadata = parquet.metadata
    missing = [name for name in columns if name not in names]
    if missing:
        raise ValueError(f"{path}: the Parquet file has no column {missing} (it has {names}); "
                         f"the dataset spec reads {list(columns)}")
    groups, first = [], 0
    for index in range(metadata.num_row_groups):
        rows = metadata.row_group(index).num_rows
        groups.append(RowGroup(path, index, first, rows))
        first += rows
    return groups


def _unsupported(group: RowGroup, name: str, column: pa.Array, row: int) -> ValueError:
    valid = pc.indices_nonzero(column.is_valid())
    at = int(valid[0].as_py()) if len(valid) else 0
    return ValueError(
        f"{group.path}: row group {group.index}, row {row + at + 1}, column {name!r}: type "
        f"{column.type} (value {column[at].as_py()!r}) cannot become a tf.Example feature; write "
        f"the column as integers, floats or text")


def _normalized(group: RowGroup, name: str, column: pa.Array, row: int) -> pa.Array:
    """The column as fast_csv converts it: text (nulls as "") or Arrow numbers."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        try:
            column = pc.cast(column, pa.large_string())
        except pa.ArrowInvalid as e:
            raise ValueError(f"{group.path}: row group {group.index}, column {name!r}: binary "
                             f"values that are not UTF-8 text: {e}") from e
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.cast(column.fill_null(""), pa.string())
    if pa.types.is_null(column.type):
        return pa.array([""] * len(column), pa.string())
    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        return column
    raise _unsupported(group, name, column, row)


def _batches(group: RowGroup, columns: Sequence[str]) -> Iterator[tuple]:
    """(file row index of the batch's first row, record batch of `columns` normalized)."""
    row = group.first_row
    with _open(group.path) as parquet:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group.index],
                                          columns=list(columns), use_threads=False):
            arrays = [_normalized(group, name, batch.column(name), row) for name in columns]
            yield row, pa.RecordBatch.from_arrays(arrays, names=list(columns))
            row += batch.num_rows


def _types_from_statistics(group: RowGroup, columns: Sequence[str]) -> Dict[str, int]:
    """The types of the row group's number columns whose statistics hold the null count."""
    with _open(group.path) as parquet:
        metadata = parquet.metadata.row_group(group.index)
        schema = parquet.schema_arrow
    known = {}
    for position in range(metadata.num_columns):
        chunk = metadata.column(position)
        name = chunk.path_in_schema
        if name not in columns:
            continue
        arrow_type = schema.field(name).type
        numeric = (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
                   or pa.types.is_boolean(arrow_type))
        statistics = chunk.statistics
        if (not numeric or pa.types.is_uint64(arrow_type) or statistics is None
                or not statistics.has_null_count):
            continue
        if statistics.null_count == metadata.num_rows:
            known[name] = ColumnType.UNKNOWN
        else:
            known[name] = (ColumnType.FLOAT if pa.types.is_floating(arrow_type)
                           else ColumnType.INT)
    return {name: int(t) for name, t in known.items()}


def row_group_types(group: RowGroup, columns: Sequence[str]) -> Dict[str, int]:
    """The column types (ColumnType values) TFX's rule infers from the row group's rows;
    fast_csv.merge_types combines those of all row groups."""
    types = _types_from_statistics(group, columns)
    rest = [name for name in columns if name not in types]
    inferred = {name: ColumnType.UNKNOWN for name in rest}
    if rest:
        for _, batch in _batches(group, rest):
            for name in rest:
                if inferred[name] != ColumnType.STRING:
                    inferred[name] = max(inferred[name], fast_csv.column_type(batch.column(name)))
    return {**types, **{name: int(t) for name, t in inferred.items()}}


def row_group_examples(group: RowGroup, columns: Sequence[str], types: Dict[str, int]
                       ) -> Iterator[bytes]:
    """The row group's rows as deterministically serialized tf.Examples with the split's
    column types; a value that does not fit fails naming the file, row group, row, column and
    value."""
    column_types = [ColumnType(types[name]) for name in columns]
    for first_row, batch in _batches(group, columns):
        try:
            serialized = fast_csv.serialized_examples(batch, column_types)
        except fast_csv.BadCell as bad:
            raise ValueError(
                f"{group.path}: row group {group.index}, row {first_row + bad.index + 1}, column "
                f"{bad.column!r}: the value {bad.cell.decode(errors='replace')!r} is not of the "
                f"column's type {bad.column_type.name} (inferred over all rows of the split)"
            ) from bad
        yield from serialized.to_pylist()


class _RowGroupToExamples(beam.DoFn):
    def __init__(self, columns: List[str]):
        self._columns = columns
        self._groups = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "row_groups_converted")
        self._rows = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "rows_converted")

    def process(self, group: RowGroup, types: Dict[str, int]) -> Iterable[bytes]:
        rows = 0
        for example in row_group_examples(group, self._columns, types):
            rows += 1
            yield example
        self._groups.inc()
        self._rows.inc(rows)


def split_columns(files: List[str], columns: Optional[Sequence[str]],
                  required: Sequence[str]) -> List[str]:
    """The columns read from a split's files (see the module docstring); fails naming the file
    that lacks one, or whose columns differ from the first file's when all are read."""
    if columns:
        read = list(columns)
    else:
        read = file_columns(files[0])
        for path in files[1:]:
            other = file_columns(path)
            if sorted(other) != sorted(read):
                raise ValueError(f"{path}: its columns {other} differ from those of {files[0]} "
                                 f"({read}) in the same split; list the columns to read in "
                                 f"the dataset spec's `columns`")
    missing = [name for name in required if name not in read]
    if missing:
        raise ValueError(f"{files[0]}: the dataset spec reads columns {missing}, which the "
                         f"Parquet file has not (it has {read})")
    if len(set(read)) != len(read):
        raise ValueError(f"{files[0]}: duplicate column names in {read}")
    return read


def read_parquet_examples(pipeline: beam.Pipeline, files: List[str], columns: List[str]
                          ) -> beam.pvalue.PCollection:
    """Serialized tf.Examples of all rows of `files` (one split): every row group is a unit of
    work, read once for its column types (combined over the split) and once to convert."""
    groups = (pipeline
              | "CreateFilenames" >> beam.Create(files)
              | "SplitIntoRowGroups" >> beam.FlatMap(row_groups, columns)
              # a stage break, so that the row groups of one file go to different workers
              | "SpreadRowGroups" >> beam.Reshuffle())
    types = beam.pvalue.AsSingleton(
        groups
        | "InferRowGroupTypes" >> beam.Map(row_group_types, columns)
        | "MergeTypes" >> beam.CombineGlobally(fast_csv.merge_types))
    return groups | "ToTFExample" >> beam.ParDo(_RowGroupToExamples(columns), types)


def custom_config(columns: Optional[Sequence[str]], required: Sequence[str]
                  ) -> example_gen_pb2.CustomConfig:
    """ExampleGen's custom_config: the columns to read (None: all) and those the spec reads."""
    return fast_csv.string_lists_config({COLUMNS_KEY: columns or [], REQUIRED_KEY: required})


@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
class _ParquetToExample(beam.PTransform):
    """Parquet files of one split -> serialized tf.Examples."""

    def __init__(self, exec_properties: Dict[str, Any], split_pattern: str):
        super().__init__()
        self._files = fast_csv.split_files(exec_properties, split_pattern)
        lists = fast_csv.string_lists_from_config(exec_properties)
        self._columns = split_columns(self._files, lists.get(COLUMNS_KEY),
                                      lists.get(REQUIRED_KEY, []))
        logging.info("Parquet input: %d files, columns %s", len(self._files), self._columns)

    def expand(self, pipeline):
        return read_parquet_examples(pipeline, self._files, self._columns)


class Executor(ShuffledWriteExecutor):
    """ExampleGen for Parquet files: the CSV path's examples and splits (module docstring),
    written shuffled in bounded memory (components/shuffled_write.py)."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ParquetToExample

    def estimated_example_bytes(self, files: List[str]) -> int:
        """Parquet is compressed: the row groups' uncompressed sizes, doubled for the feature
        names every example repeats."""
        total = 0
        for path in files:
            with _open(path) as parquet:
                metadata = parquet.metadata
                total += sum(metadata.row_group(i).total_byte_size
                             for i in range(metadata.num_row_groups))
        return 2 * total


EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
