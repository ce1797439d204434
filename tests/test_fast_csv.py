"""components.fast_csv against TFX's own CsvExampleGen executor: both run (Beam in-process) on
the same small CSV files and must write the same tf.Examples into the same splits."""
import collections
import glob
import os
import random

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import fast_csv

SPLITS = (("train", 2), ("eval", 1))


def _run(executor_class, input_base, output_dir, pattern="*"):
    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: input_base,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                name="single_split", pattern=pattern)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in SPLITS]))),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    executor_class().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]},
                        exec_properties)
    result = {}
    for name, _ in SPLITS:
        files = sorted(glob.glob(os.path.join(output_dir, f"Split-{name}", "*")))
        assert files, name
        # Compared as the deterministic serialization: TFX writes the map in any order.
        result[name] = collections.Counter(
            tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True)
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return result


def _assert_same_as_tfx(input_base, tmp_path, pattern="*"):
    expected = _run(tfx_csv_executor.Executor, input_base, str(tmp_path / "tfx"), pattern)
    actual = _run(fast_csv.Executor, input_base, str(tmp_path / "fast"), pattern)
    for name, _ in SPLITS:
        assert sum(expected[name].values()) > 0, name
        assert actual[name] == expected[name], name
    return expected


LONG_NAME = "long_" + "n" * 130  # a key longer than 127 bytes: a two-byte length
HEADER = ("int_col,float_col,numbers_then_text,always_empty,quoted,Ünïcode,odd_ints,odd_floats,"
          "big_ints,int_or_float,C1,C10," + LONG_NAME)  # C1, C10: protobuf writes C10 first
POOLS = {
    "int_col": ["0", "-7", "42", "007", "123456789012345678", ""],
    "float_col": ["0.1", "-3.5e-7", "1e300", "1e-400", "2.", ".5", "-0", "1E+5", "3", ""],
    "numbers_then_text": ["1", "2.5", ""],  # one row of text is added in the second file
    "always_empty": [""],
    "quoted": ['"a,b"', '"say ""hi"""', "plain", '""', '" spaced "', "x" * 300, ""],
    "Ünïcode": ["é", "日本語", "naïve café", "☃", ""],
    "odd_ints": [" 7", "+5", "1_000", "-0", "9223372036854775807", ""],
    "odd_floats": ["inf", "-Infinity", "nan", " 1.5 ", "+.5", "1_0.5", "4", ""],
    "big_ints": ["1", "99999999999999999999", ""],  # beyond int64: TFX infers STRING
    "int_or_float": ["1", "2", "3.25", ""],
    "C1": ["1", "2", ""],
    "C10": ["a", "b", ""],
    LONG_NAME: ["-1", "-9223372036854775808", "300", ""],
}


def _rows(rng, count):
    names = HEADER.split(",")
    return [",".join(rng.choice(POOLS[name]) for name in names) for _ in range(count)]


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("csv")
    rng = random.Random(7)
    first = _rows(rng, 80)
    second = _rows(rng, 80)
    # a row whose numbers_then_text cell is text: the whole column becomes STRING
    names = HEADER.split(",")
    text_row = {name: rng.choice(POOLS[name]) for name in names}
    text_row["numbers_then_text"] = "12abc"
    second.append(",".join(text_row[name] for name in names))
    (base / "part-1.csv").write_text(HEADER + "\n" + "\n".join(first) + "\n", encoding="utf-8")
    (base / "part-2.csv").write_text(HEADER + "\n" + "\n".join(second) + "\n\n",
                                     encoding="utf-8")
    return str(base)


def test_same_examples_and_splits_as_tfx(two_files, tmp_path):
    expected = _assert_same_as_tfx(two_files, tmp_path)
    kinds = collections.defaultdict(set)
    for serialized in expected["train"] + expected["eval"]:
        for name, feature in tf.train.Example.FromString(serialized).features.feature.items():
            kinds[name].add(feature.WhichOneof("kind"))
    # the types the data was built to have (an empty cell keeps its column's kind)
    assert kinds == {
        "int_col": {"int64_list"}, "float_col": {"float_list"}, "always_empty": {None},
        "numbers_then_text": {"bytes_list"}, "quoted": {"bytes_list"},
        "Ünïcode": {"bytes_list"}, "odd_ints": {"int64_list"}, "odd_floats": {"float_list"},
        "big_ints": {"bytes_list"}, "int_or_float": {"float_list"}, LONG_NAME: {"int64_list"},
        "C1": {"int64_list"}, "C10": {"bytes_list"}}

def test_windows_line_endings_and_multiline_quoted_cells(tmp_path):
    base = tmp_path / "input"
    base.mkdir()
    rows = [f'{i},"line one\r\nline two {i}",{i * 0.5}' for i in range(30)]
    rows += [f'{i},"a,b",' for i in range(30, 60)]
    (base / "data.csv").write_bytes(("id,text,x\r\n" + "\r\n".join(rows) + "\r\n")
                                    .encode("utf-8"))
    _assert_same_as_tfx(str(base), tmp_path)


def test_split_files_with_different_headers_are_refused(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,z\n1,2\n")
    with pytest.raises(RuntimeError, match="different header"):
        fast_csv._CsvToSerializedExample(
            {standard_component_specs.INPUT_BASE_KEY: str(tmp_path)}, "*")


def test_row_with_wrong_cell_count_names_the_file(tmp_path):
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n3\n")
    with pytest.raises(Exception, match="bad.csv"):
        _run(fast_csv.Executor, str(tmp_path), str(tmp_path / "out"))
