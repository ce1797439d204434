"""Unit tests of the serving and scale benchmarks' helpers (no pipeline runs, no timings
asserted)."""
import os
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks.scale import TreeMemory, format_section, sklearn_encode
from benchmarks.serving import latency_stats, raw_examples, time_calls


def test_latency_stats_are_nearest_rank_percentiles_in_ms():
    seconds = np.arange(1, 101) / 1000.0  # 1 ms .. 100 ms, shuffled
    stats = latency_stats(np.random.default_rng(0).permutation(seconds))
    assert stats["p50"] == pytest.approx(50.0)
    assert stats["p99"] == pytest.approx(99.0)
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["min"] == pytest.approx(1.0)
    assert stats["calls"] == 100
    # one slow outlier in 1000 calls moves neither percentile
    stats = latency_stats([0.002] * 999 + [1.0])
    assert stats["p50"] == pytest.approx(2.0) and stats["p99"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no timings"):
        latency_stats([])


def test_time_calls_times_only_the_calls_after_warmup():
    calls = []
    seconds = time_calls(lambda: calls.append(1), calls=7, warmup=3)
    assert len(calls) == 10 and len(seconds) == 7
    assert all(s >= 0 for s in seconds)


def test_sklearn_encode_matches_a_numpy_reference():
    df = pd.DataFrame({"C1": ["b", "a", None, "b"], "C2": ["x", "x", "y", None],
                       "I1": [3.0, np.nan, 1.0, 5.0], "I2": [10, 20, 30, 40]})
    ids, scaled = sklearn_encode(df, ["C1", "C2"], ["I1", "I2"])
    for i, column in enumerate(["C1", "C2"]):  # ids: ranks of the sorted distinct values
        values = df[column].fillna("").to_numpy(dtype=str)
        np.testing.assert_array_equal(ids[:, i], np.searchsorted(np.unique(values), values))
    np.testing.assert_array_equal(ids[:, 0], [2, 1, 0, 2])  # '' < 'a' < 'b'
    dense = df[["I1", "I2"]].fillna(0.0).to_numpy(dtype=float)
    expected = (dense - dense.min(0)) / (dense.max(0) - dense.min(0))
    np.testing.assert_allclose(scaled, expected)
    np.testing.assert_allclose(scaled[:, 0], [0.6, 0.0, 0.2, 1.0])  # NaN -> 0 -> the minimum


def test_tree_memory_samples_this_process_and_peaks_by_window():
    memory = TreeMemory(os.getpid(), interval=0.01)
    memory.start()
    time.sleep(0.1)
    memory.stopped.set()
    memory.join()
    assert memory.samples and all(rss > 10 * 2**20 for _, rss in memory.samples)
    memory.samples = [(10.0, 1), (11.0, 5), (12.0, 3), (13.0, 9)]
    assert memory.peak() == 9
    assert memory.peak(10.5, 12.5) == 5
    assert memory.peak(20.0, 30.0) is None


def test_scale_section_ratio_is_transform_over_read_plus_encode():
    memory = TreeMemory(os.getpid())
    memory.samples = [(100.5, 2**30), (104.0, 3 * 2**30)]
    components = [("CsvExampleGen", "COMPLETE", 100.0, 101.0),
                  ("Transform", "COMPLETE", 103.0, 113.0)]  # 10 s
    ref = {"rows": 1000, "read_s": 1.0, "encode_s": 4.0, "peak_rss": 2**29}
    text = format_section(1000, "cmd", components, memory, 20.0, 2**30, ref, (1.0, 2.0), 1.0, "")
    assert "| Transform | COMPLETE | 10.0 | 3.00 |" in text
    assert "| CsvExampleGen | COMPLETE | 1.0 | 1.00 |" in text
    assert "**2.0x**" in text and "Transform / (fit + transform) = 2.5x" in text
    assert "Goal (within 2x): met" in text
    ref["read_s"] = 0.5
    assert "**missed**" in format_section(1000, "cmd", components, memory, 20.0, 2**30, ref,
                                          (1.0, 2.0), 1.0, "")


def test_raw_examples_follow_the_raw_schema_and_omit_missing_cells():
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2
    from data.generators import generate_criteo
    schema = schema_pb2.Schema()
    for name, kind in (("label", schema_pb2.INT), ("I6", schema_pb2.INT),
                       ("C22", schema_pb2.BYTES)):
        schema.feature.add(name=name, type=kind)
    serialized = raw_examples(schema, 40, seed=1)
    df, _ = generate_criteo(40, seed=1)
    assert len(serialized) == 40
    for row, blob in zip(df.itertuples(), serialized):
        features = tf.train.Example.FromString(blob).features.feature
        assert features["label"].int64_list.value == [row.label]
        if pd.isna(row.I6):
            assert "I6" not in features
        else:
            assert features["I6"].int64_list.value == [row.I6]
        if pd.isna(row.C22):
            assert "C22" not in features
        else:
            assert features["C22"].bytes_list.value == [row.C22.encode()]
    assert df["I6"].isna().any() and df["C22"].isna().any()  # both cases were seen
