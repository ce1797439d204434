"""components.parquet_input (dataset spec `format: parquet`): the same tf.Examples in the same
splits as the CSV path (components.fast_csv) on the same rows, row groups as units of work,
and errors that name the file, row group, row, column and value."""
import collections
import glob
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from google.protobuf import json_format
from pyarrow import csv as pa_csv
from tfx.types import standard_component_specs

from components import fast_csv, parquet_input
from components.dataset_spec import SPEC_DIR, DatasetSpec, SpecError, load_spec
from pipeline.run import count_examples, resolve_input
from example_gen_testing import run_example_gen, split_examples

SAMPLE = os.path.join(os.path.dirname(SPEC_DIR), "samples", "criteo_2k.csv")
SPLITS = (("train", 8), ("validation", 1), ("test", 1))


def _run(executor_class, input_base, output_dir, pattern, **extra_properties):
    """The executor's splits as Counters of the examples' deterministic serializations."""
    run_example_gen(executor_class, input_base, output_dir, SPLITS, pattern, **extra_properties)
    return split_examples(output_dir, SPLITS)


@pytest.fixture(scope="module")
def sample_table():
    """The bundled Criteo sample (Arrow's own types: int64 with nulls, text) with a float
    column added, so that integers, floats and text columns are all read."""
    table = pa_csv.read_csv(SAMPLE)
    ctr = pc.divide(pc.cast(table.column("I5"), pa.float64()), 997.0)
    return table.append_column("ctr", ctr)


def _as_text(table):
    return pa.table({name: pc.cast(table.column(name), pa.string()) for name in table.column_names})


def test_parquet_gives_the_csv_examples_split_for_split(sample_table, tmp_path):
    csv_dir, parquet_dir = tmp_path / "csv", tmp_path / "parquet"
    csv_dir.mkdir()
    parquet_dir.mkdir()
    # the CSV of the same rows: Arrow's text of every value, a null as an empty cell
    text = _as_text(sample_table).to_pydict()
    lines = [",".join(sample_table.column_names)] + [
        ",".join(text[name][row] or "" for name in sample_table.column_names)
        for row in range(sample_table.num_rows)]
    (csv_dir / "sample.csv").write_text("\n".join(lines) + "\n")
    half = sample_table.num_rows // 2
    # the first half with Arrow's types in row groups of 150 rows, the second half as text
    # (every column a string column: TFX's rule decides their types, as for CSV cells)
    pq.write_table(sample_table.slice(0, half), str(parquet_dir / "a.parquet"),
                   row_group_size=150)
    pq.write_table(_as_text(sample_table.slice(half)), str(parquet_dir / "b.parquet"),
                   row_group_size=400)
    groups = [g for f in sorted(glob.glob(str(parquet_dir / "*"))) for g in
              parquet_input.row_groups(f, sample_table.column_names)]
    assert len(groups) == 7 + 3 and sum(g.rows for g in groups) == 2000
    expected = _run(fast_csv.Executor, str(csv_dir), str(tmp_path / "from_csv"), "*.csv")
    config = parquet_input.custom_config(None, load_spec("criteo").raw_columns)
    actual = _run(parquet_input.Executor, str(parquet_dir), str(tmp_path / "from_parquet"),
                  "*.parquet", **{standard_component_specs.CUSTOM_CONFIG_KEY:
                                  json_format.MessageToJson(config)})
    assert sum(sum(expected[name].values()) for name, _ in SPLITS) == 2000
    for name, _ in SPLITS:
        assert actual[name] == expected[name], name
    kinds = collections.defaultdict(set)
    for serialized in expected["train"]:
        for name, feature in tf.train.Example.FromString(serialized).features.feature.items():
            kinds[name].add(feature.WhichOneof("kind"))
    assert kinds["I1"] == {"int64_list"} and kinds["ctr"] == {"float_list"}
    assert kinds["C1"] == {"bytes_list"}


def test_folder_of_parquet_files_is_the_input(sample_table, tmp_path):
    spec = load_spec("criteo")
    pq.write_table(sample_table.slice(0, 30), str(tmp_path / "part-0.parquet"))
    pq.write_table(sample_table.slice(30, 20), str(tmp_path / "part-1.parquet"))
    parquet_spec = DatasetSpec.from_dict({**_criteo_raw(), "format": "parquet"})
    assert resolve_input(str(tmp_path), parquet_spec) == (str(tmp_path), "*.parquet")
    assert count_examples(str(tmp_path), "*.parquet", "parquet") == 50
    # a file without the spec's columns is left out, as a CSV without them is
    pq.write_table(sample_table.select(["label", "I1"]).slice(0, 5),
                   str(tmp_path / "other.parquet"))
    with pytest.raises(SystemExit, match="several"):
        resolve_input(str(tmp_path), parquet_spec)
    assert spec.format == "csv"


def _criteo_raw():
    import yaml
    with open(os.path.join(SPEC_DIR, "criteo.yaml")) as f:
        return yaml.safe_load(f)


def test_spec_accepts_parquet_and_its_columns():
    raw = {**_criteo_raw(), "format": "parquet"}
    spec = DatasetSpec.from_dict({**raw, "columns": ["label", "extra"] + [
        f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]})
    assert spec.format == "parquet" and spec.columns[:2] == ("label", "extra")
    with pytest.raises(SpecError, match=r"columns: lacks \['C26'\]"):
        DatasetSpec.from_dict({**raw, "columns": ["label"] + [f"I{i}" for i in range(1, 14)]
                               + [f"C{i}" for i in range(1, 26)]})
    with pytest.raises(SpecError, match="format: must be one of csv, parquet, tfrecord"):
        DatasetSpec.from_dict({**raw, "format": "orc"})


def test_missing_column_names_the_file_and_the_column(sample_table, tmp_path):
    path = str(tmp_path / "x.parquet")
    pq.write_table(sample_table.drop(["C7"]), path)
    with pytest.raises(ValueError, match=r"x\.parquet: the Parquet file has no column \['C7'\]"):
        parquet_input.row_groups(path, ["label", "C7"])
    with pytest.raises(ValueError, match=r"x\.parquet: the dataset spec reads columns \['C7'\]"):
        parquet_input.split_columns([path], None, ["label", "C7"])


def test_unconvertible_type_and_value_name_file_row_group_row_column(tmp_path):
    path = str(tmp_path / "events.parquet")
    times = pa.array([None, None, None, 5_000_000, None], pa.timestamp("ms"))
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "t": times}), path, row_group_size=2)
    groups = parquet_input.row_groups(path, ["id", "t"])
    assert [(g.index, g.first_row, g.rows) for g in groups] == [(0, 0, 2), (1, 2, 2), (2, 4, 1)]
    with pytest.raises(ValueError, match=r"events\.parquet: row group 1, row 4, column 't': "
                                         r"type timestamp\[ms\] \(value datetime"):
        parquet_input.row_group_types(groups[1], ["id", "t"])
    # a value that does not fit the split's type (here: types from other data saying the
    # column is empty everywhere) names the row and the value
    with pytest.raises(ValueError, match=r"row group 1, row 3, column 'id': the value '3'"):
        list(parquet_input.row_group_examples(groups[1], ["id"],
                                              {"id": int(fast_csv.ColumnType.UNKNOWN)}))
