"""Span discovery and selection (no pipeline run); checked against TFX's own span resolution."""
import os

import pytest
from tfx import v1 as tfx
from tfx.components.example_gen import utils as example_gen_utils

from pipeline.reporting.runs import format_spans
from pipeline.spans import (date_to_span, find_span_input, range_config, select_spans)


def _file(path, text="label,I1\n1,2\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _tfx_span(base, pattern, span=None):
    """(span, version) that TFX ExampleGen's driver resolves for `pattern` (optionally pinned to
    `span` by a static range)."""
    splits = [tfx.proto.Input.Split(name="single_split", pattern=pattern)]
    _, span_out, version = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        base, splits, range_config(span) if span is not None else None)
    return span_out, version


@pytest.fixture
def span_folders(tmp_path):
    for span in (1, 2, 10):
        _file(str(tmp_path / f"span-{span}" / "data.csv"))
        _file(str(tmp_path / f"span-{span}.oracle.json"), "{}")  # beside, not inside
    os.makedirs(tmp_path / "span-11")  # an empty folder is no span
    return str(tmp_path)


def test_span_folders_need_no_flags(span_folders):
    found = find_span_input(span_folders)
    assert found.pattern == "span-{SPAN}/*"
    assert found.available == [1, 2, 10]
    assert found.spans == [10]
    assert found.files(10) == [os.path.join(span_folders, "span-10", "data.csv")]
    # TFX's driver picks the same newest span from the same pattern
    assert _tfx_span(span_folders, found.pattern) == (10, None)
    assert _tfx_span(span_folders, found.pattern, span=2)[0] == 2


def test_window_and_range_select_spans(span_folders):
    assert find_span_input(span_folders, window=2).spans == [2, 10]
    assert find_span_input(span_folders, window=5).spans == [1, 2, 10]
    assert find_span_input(span_folders, span_range="1:2").spans == [1, 2]
    assert find_span_input(span_folders, span_range="2:").spans == [2, 10]
    with pytest.raises(SystemExit, match=r"no span in that range \(available: 1, 2, 10\)"):
        find_span_input(span_folders, span_range="3:9")
    with pytest.raises(SystemExit, match="not both"):
        select_spans([1, 2], window=1, span_range="1:2")
    with pytest.raises(SystemExit, match="at least 1"):
        select_spans([1, 2], window=0)


def test_a_plain_folder_is_not_span_based(tmp_path):
    _file(str(tmp_path / "train.csv"))
    assert find_span_input(str(tmp_path)) is None
    with pytest.raises(SystemExit, match="span-<N>/ sub-folders"):
        find_span_input(str(tmp_path), window=2)


def test_date_folders_and_versions(tmp_path):
    for day in ("2026-11-27", "2026-11-28"):
        _file(str(tmp_path / "logs" / day / "v1" / "part.csv"))
    _file(str(tmp_path / "logs" / "2026-11-28" / "v2" / "part.csv"))
    pattern = str(tmp_path / "logs" / "{YYYY}-{MM}-{DD}" / "v{VERSION}" / "*.csv")
    found = find_span_input(pattern)
    assert found.input_base == str(tmp_path / "logs")
    assert found.pattern == "{YYYY}-{MM}-{DD}/v{VERSION}/*.csv"
    newest = date_to_span(2026, 11, 28)
    assert newest == example_gen_utils.date_to_span_number(2026, 11, 28)
    assert found.spans == [newest] and found.available == [newest - 1, newest]
    assert found.files(newest) == [str(tmp_path / "logs" / "2026-11-28" / "v2" / "part.csv")]
    assert _tfx_span(found.input_base, found.pattern) == (newest, 2)


def test_zero_padded_span_pattern(tmp_path):
    for span in (7, 8):
        _file(str(tmp_path / f"day{span:03d}.csv"))
    found = find_span_input(str(tmp_path / "day{SPAN:3}.csv"))
    assert found.spans == [8] and found.available == [7, 8]
    assert _tfx_span(found.input_base, found.pattern) == (8, None)


def test_run_history_shows_span_ranges():
    assert format_spans([]) == "-"
    assert format_spans([3]) == "3"
    assert format_spans([2, 3, 4]) == "2-4"
    assert format_spans([1, 3]) == "1,3"
