"""components.shuffled_write: ExampleGen's splits written shuffled through shard files (in place
of TFX's Reshuffle): the order is the seeded key order computed here, the split membership is
TFX's hash rule, and the same input and seed give the same files."""
import hashlib
import math
import os
import re

import tensorflow as tf
from google.protobuf import json_format, struct_pb2
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components import fast_csv, shuffled_write
from example_gen_testing import run_example_gen, split_files

SPLITS = (("train", 2), ("eval", 1))
ROWS = 400


def _seed_config(seed):
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct_pb2.Struct(fields={
        shuffled_write.SEED_KEY: struct_pb2.Value(number_value=seed)}))
    return json_format.MessageToJson(config)


def _run(input_base, output_dir, seed):
    """fast_csv's executor on `input_base` -> {split: [(file name, [records in file order])]}."""
    run_example_gen(fast_csv.Executor, input_base, output_dir, SPLITS,
                    **{standard_component_specs.CUSTOM_CONFIG_KEY: _seed_config(seed)})
    assert not os.path.exists(os.path.join(output_dir, shuffled_write.PIECES_FOLDER))
    result = {}
    for name, _ in SPLITS:
        result[name] = [(os.path.basename(f), [r.numpy() for r in tf.data.TFRecordDataset(
            f, compression_type="GZIP")]) for f in split_files(output_dir, name)]
    return result


def _time(record):
    return tf.train.Example.FromString(record).features.feature["t"].int64_list.value[0]


def test_time_ordered_rows_are_written_in_the_seeded_key_order(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    lines = ["t,user,clicked"] + [f"{t},u{t % 37},{int(t % 3 == 0)}" for t in range(ROWS)]
    (data / "log.csv").write_text("\n".join(lines) + "\n")
    # ~6 KB of CSV -> ~24 KB estimated examples (CSV_EXPANSION 4): several shards per split
    monkeypatch.setattr(shuffled_write, "SHARD_BYTES", 4500)
    estimated = 4 * os.path.getsize(data / "log.csv")
    seed = 5
    written = _run(str(data), str(tmp_path / "out"), seed)
    key = seed.to_bytes(8, "little")
    times = []
    for name, share in (("train", 2 / 3), ("eval", 1 / 3)):
        files = written[name]
        shards = int(re.fullmatch(r"data_tfrecord-00000-of-(\d{5})\.gz", files[0][0]).group(1))
        assert shards == math.ceil(estimated * share / 4500) >= 2
        assert [f for f, _ in files] == [f"data_tfrecord-{i:05d}-of-{shards:05d}.gz"
                                         for i in range(shards)]
        records = [r for _, shard_records in files for r in shard_records]
        # membership: TFX's whole-row hash rule (SHA-256 of the serialization mod 3 buckets)
        for record in records:
            bucket = int(hashlib.sha256(record).hexdigest(), 16) % 3
            assert (bucket < 2) == (name == "train")

        # order: by shard (key mod shards), then by the seeded key within the shard
        def place(record):
            digest = hashlib.blake2b(record, digest_size=8, key=key).digest()
            return int.from_bytes(digest, "big") % shards, digest, record
        assert records == sorted(records, key=place)
        for index, (_, shard_records) in enumerate(files):
            assert all(place(r)[0] == index for r in shard_records)
        split_times = [_time(r) for r in records]
        # a time-ordered log does not come out in time order: the first 20 written rows are
        # not the split's 20 earliest
        assert set(split_times[:20]) != set(sorted(split_times)[:20])
        times += split_times
    assert sorted(times) == list(range(ROWS))  # every row written once

    # the same input and seed: the same files, byte for byte (the order above is the seed's)
    again = _run(str(data), str(tmp_path / "again"), seed)
    assert again == written
    for name, _ in SPLITS:
        for file_name, _ in written[name]:
            first, second = (os.path.join(tmp_path, run, f"Split-{name}", file_name)
                             for run in ("out", "again"))
            with open(first, "rb") as a, open(second, "rb") as b:
                assert a.read() == b.read(), file_name
