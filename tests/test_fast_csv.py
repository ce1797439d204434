"""components.fast_csv against TFX's own CsvExampleGen executor: both run (Beam in-process) on
the same small CSV files and must write the same tf.Examples into the same splits."""
import collections
import glob
import os
import random

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.types import standard_component_specs

from components import fast_csv
from example_gen_testing import run_example_gen, split_examples

SPLITS = (("train", 2), ("eval", 1))


def _run(executor_class, input_base, output_dir, pattern="*", **extra_properties):
    run_example_gen(executor_class, input_base, output_dir, SPLITS, pattern, **extra_properties)
    return split_examples(output_dir, SPLITS)


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


def test_same_examples_and_splits_as_tfx(two_files, tmp_path, monkeypatch):
    expected = _assert_same_as_tfx(two_files, tmp_path)
    # the same examples in the same splits when each file is read in ~10 ranges
    monkeypatch.setattr(fast_csv, "RANGE_BYTES", 1000)
    assert all(len(fast_csv.csv_ranges(path, 1000)) >= 8
               for path in glob.glob(os.path.join(two_files, "*")))
    assert _run(fast_csv.Executor, two_files, str(tmp_path / "ranges")) == expected
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


# --- byte ranges: one file read by many readers -------------------------------------------

def _ranged_examples(path, names, range_bytes, skip_header=True):
    """The file's examples read range by range (types inferred per range and merged), in
    file order."""
    ranges = fast_csv.csv_ranges(path, range_bytes)
    types = fast_csv.merge_types(fast_csv.range_types(r, names, skip_header) for r in ranges)
    return [e for r in ranges for e in fast_csv.range_examples(r, names, skip_header, types)]


def _whole_file_examples(path, names):
    (whole,) = fast_csv.csv_ranges(path, os.path.getsize(path))
    assert whole.whole
    return _ranged_examples(path, names, os.path.getsize(path))


SMALL_CASES = {
    # CRLF, a blank line, quoted commas and doubled quotes, no newline after the last record
    "crlf_no_trailing_newline": ("id,text,x\r\n1,\"a,b\",2.5\r\n\r\n2,\"say \"\"hi\"\"\",\r\n"
                                 "3,plain,7\r\n4,\"x\",1e3\r\n5,,\r\n6,\"q,\"\"r\"\"\",-0"),
    "lf_trailing_blank_lines": ("id,text,x\n1,\"a,b\",\n\n\n\"2\",\"\",3\n4,\"\"\"\",5.5\n"
                                "7,\" spaced \",8\n8,x,9\n9,y,\n\n"),
}


@pytest.mark.parametrize("case", sorted(SMALL_CASES))
def test_ranges_of_every_size_read_what_the_whole_file_reads(case, tmp_path):
    # Every range size from one byte to the whole file: each boundary position (on a line
    # start, on a newline, between CR and LF, inside quotes) is a range start for some size.
    path = tmp_path / "data.csv"
    path.write_bytes(SMALL_CASES[case].encode())
    expected = _whole_file_examples(str(path), ["id", "text", "x"])
    assert len(expected) == 6
    for range_bytes in range(1, path.stat().st_size + 1):
        assert len(fast_csv.csv_ranges(str(path), range_bytes)) > (
            range_bytes < path.stat().st_size)
        assert _ranged_examples(str(path), ["id", "text", "x"], range_bytes) == expected, \
            range_bytes


def test_ranges_read_the_tricky_file_as_the_whole_file(two_files):
    path = os.path.join(two_files, "part-2.csv")  # ends with a blank line
    names = HEADER.split(",")
    data = open(path, "rb").read()
    second_line = data.index(b"\n") + 1
    first_quote = data.index(b'"')
    expected = _whole_file_examples(path, names)
    assert len(expected) == 81
    # a boundary exactly on a line start, on its newline, just after it; on and after a quote
    sizes = {second_line, second_line - 1, first_quote + 1}
    for range_bytes in sorted(sizes):
        assert _ranged_examples(path, names, range_bytes) == expected, range_bytes


def test_file_smaller_than_one_range_is_read_whole(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,2\n")
    assert fast_csv.csv_ranges(str(path), 9) == [fast_csv.CsvRange(str(path), 0, 8, True)]
    assert [r[1:] for r in fast_csv.csv_ranges(str(path), 3)] == [
        (0, 3, False), (3, 6, False), (6, 8, False)]


def test_gzip_is_read_whole_and_logged(tmp_path, caplog):
    import gzip
    text = SMALL_CASES["crlf_no_trailing_newline"]
    (tmp_path / "plain.csv").write_text(text, newline="")
    with gzip.open(tmp_path / "packed.csv.gz", "wt", newline="") as f:
        f.write(text)
    path = str(tmp_path / "packed.csv.gz")
    with caplog.at_level("WARNING"):
        (only,) = fast_csv.csv_ranges(path, 10)
    assert only.whole and (only.start, only.stop) == (0, os.path.getsize(path))
    assert "cannot be split into byte ranges" in caplog.text and "packed.csv.gz" in caplog.text
    assert _ranged_examples(path, ["id", "text", "x"], 10) == _whole_file_examples(
        str(tmp_path / "plain.csv"), ["id", "text", "x"])


def test_quoted_line_break_in_a_file_read_in_ranges_is_refused(tmp_path):
    # TFX's reader joins lines until the quotes balance, so such a record is one example; a
    # range cannot know whether its first line starts inside a quoted cell, so a file read
    # in ranges refuses it (read whole, e.g. no larger than one range, it works: see
    # test_windows_line_endings_and_multiline_quoted_cells).
    path = tmp_path / "multi.csv"
    path.write_text('id,text\n1,plain\n2,"two\nlines"\n3,after\n')
    with pytest.raises(ValueError, match=r"multi.csv: the record at byte 16 has a line break "
                                         r"inside a quoted cell"):
        _ranged_examples(str(path), ["id", "text"], 30)
    assert len(_whole_file_examples(str(path), ["id", "text"])) == 3


@pytest.mark.parametrize("range_bytes", [12, 1000])
def test_cell_not_of_its_type_names_file_row_column_and_value(tmp_path, range_bytes):
    # conversion re-checks every cell against the types inferred over all ranges
    path = tmp_path / "typed.csv"
    path.write_text("id,x\n1,2\n\n3,4\n5,6.5\n7,8\n")
    names = ["id", "x"]
    (first, *rest) = fast_csv.csv_ranges(str(path), range_bytes)
    assert bool(rest) == (range_bytes == 12)
    with pytest.raises(ValueError, match=r"typed.csv: data row 3, column 'x': the value '6.5' "
                                         r"is not of the column's type INT"):
        for csv_range in [first, *rest]:
            list(fast_csv.range_examples(csv_range, names, True, {"id": 0, "x": 0}))
    with pytest.raises(ValueError, match=r"data row 1, column 'id': the value '1' is not of "
                                         r"the column's type UNKNOWN"):
        list(fast_csv.range_examples(first, names, True, {"id": -1, "x": 1}))


def test_range_split_while_it_runs_loses_and_repeats_no_row(tmp_path, monkeypatch):
    # Beam may split a running range (dynamic work rebalancing): the reader keeps the lines
    # before the new stop, the residual range reads the rest.
    monkeypatch.setattr(fast_csv, "_CHUNK_BYTES", 20)  # several claims per range
    path = tmp_path / "split.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i * 3}\n" for i in range(60)))
    names = ["id", "x"]
    (csv_range,) = fast_csv.csv_ranges(str(path), 10_000)
    csv_range = csv_range._replace(whole=False)  # as one range of a larger file
    types = fast_csv.range_types(csv_range, names, True)
    expected = list(fast_csv.range_examples(csv_range, names, True, types))
    tracker = fast_csv.OffsetRestrictionTracker(fast_csv.OffsetRange(0, csv_range.stop))
    reader = fast_csv.range_examples(csv_range, names, True, types, tracker)
    primary = [next(reader)]
    _, residual = tracker.try_split(0.5)
    primary += list(reader)
    tracker.check_done()
    rest = list(fast_csv.range_examples(
        csv_range._replace(start=residual.start, stop=residual.stop), names, True, types))
    assert len(primary) < len(expected) and rest
    assert primary + rest == expected


def test_one_file_is_converted_by_two_worker_processes(tmp_path):
    # Beam's DirectRunner in multi_processing mode with 2 workers (the CLI's
    # --beam-mode multi_processing), tiny ranges: both worker processes convert ranges (the
    # per-process counters) and the examples are those of one whole-file read. ~10 s: two
    # worker processes start and import TensorFlow.
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    rng = random.Random(3)
    names = HEADER.split(",")
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "\n" + "\n".join(_rows(rng, 200)) + "\n", encoding="utf-8")
    options = PipelineOptions(direct_running_mode="multi_processing", direct_num_workers=2)
    pipeline = beam.Pipeline(options=options)
    (fast_csv.read_csv_examples(pipeline, [str(path)], names, True, range_bytes=1000)
     | beam.io.WriteToTFRecord(str(tmp_path / "out" / "examples")))
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(
        fast_csv.METRICS_NAMESPACE))["counters"]
    per_process = {c.key.metric.name: c.committed for c in counters
                   if c.key.metric.name.startswith("ranges_converted_by_process_")}
    ranges = len(fast_csv.csv_ranges(str(path), 1000))
    assert ranges > 10
    assert len(per_process) == 2 and min(per_process.values()) > 0, per_process
    assert sum(per_process.values()) == ranges
    written = [r.numpy() for r in tf.data.TFRecordDataset(
        sorted(glob.glob(str(tmp_path / "out" / "examples*"))))]
    assert collections.Counter(written) == collections.Counter(
        _whole_file_examples(str(path), names))


def test_headerless_files_give_what_tfx_gives_under_a_header(tmp_path, monkeypatch):
    # components.headerless_csv reads with fast_csv's reader (ranges included): the same
    # examples in the same splits as TFX's CsvExampleGen on the same rows under a header line
    from google.protobuf import json_format
    from components import headerless_csv
    rng = random.Random(11)
    rows = "\n".join(_rows(rng, 60)) + "\n"
    (tmp_path / "with_header").mkdir()
    (tmp_path / "with_header" / "data.csv").write_text(HEADER + "\n" + rows, encoding="utf-8")
    (tmp_path / "headerless").mkdir()
    (tmp_path / "headerless" / "data.csv").write_text(rows, encoding="utf-8")
    expected = _run(tfx_csv_executor.Executor, str(tmp_path / "with_header"),
                    str(tmp_path / "tfx"))
    monkeypatch.setattr(fast_csv, "RANGE_BYTES", 1000)
    assert len(fast_csv.csv_ranges(str(tmp_path / "headerless" / "data.csv"), 1000)) >= 5
    config = json_format.MessageToJson(headerless_csv.custom_config(HEADER.split(",")))
    actual = _run(headerless_csv.Executor, str(tmp_path / "headerless"),
                  str(tmp_path / "headerless_out"),
                  **{standard_component_specs.CUSTOM_CONFIG_KEY: config})
    assert sum(expected["train"].values()) + sum(expected["eval"].values()) == 60
    assert actual == expected
