"""CsvExampleGen for CSV files without a header line (e.g. the UCI census-income files).

TFX's CsvExampleGen takes the column names from each file's first line. This executor takes them
from the dataset spec's `columns` (passed in the component's custom_config) and reads every line
as data with components.fast_csv's reader: files in byte ranges spread over the Beam workers,
C++ parsing, TFX's type inference (INT -> FLOAT -> STRING over all rows) and TFX's examples
(the same tf.Examples, in the same splits, as TFX's CsvExampleGen on the same rows under a header
line). Cells keep their text as written (" Never married" keeps its leading space; numbers such
as " 73" still parse as numbers). Empty lines are skipped; a line of spaces is a row (as in TFX's
reader) and fails unless the file has one column.
"""
import os
from typing import Any, Dict, List

import apache_beam as beam
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components import fast_csv
from components.shuffled_write import ShuffledWriteExecutor

COLUMNS_KEY = "columns"


def custom_config(columns: List[str]) -> example_gen_pb2.CustomConfig:
    """The ExampleGen custom_config carrying the column names."""
    return fast_csv.string_lists_config({COLUMNS_KEY: columns})


def columns_from_exec_properties(exec_properties: Dict[str, Any]) -> List[str]:
    lists = fast_csv.string_lists_from_config(exec_properties)
    if COLUMNS_KEY not in lists:
        raise ValueError("HeaderlessCsvExampleGen needs custom_config with the column names "
                         "(headerless_csv.custom_config(columns))")
    return lists[COLUMNS_KEY]


@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
class _HeaderlessCsvToExample(beam.PTransform):
    """CSV files of one split, no header line -> serialized tf.Examples."""

    def __init__(self, exec_properties: Dict[str, Any], split_pattern: str):
        super().__init__()
        self._pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                                     split_pattern)
        self._columns = columns_from_exec_properties(exec_properties)

    def expand(self, pipeline):
        files = fileio.glob(self._pattern)
        if not files:
            raise RuntimeError(f"Split pattern {self._pattern} does not match any files.")
        return fast_csv.read_csv_examples(pipeline, files, self._columns, skip_header=False)


class Executor(ShuffledWriteExecutor):
    """Writes each split shuffled in bounded memory (components/shuffled_write.py)."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _HeaderlessCsvToExample


EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
