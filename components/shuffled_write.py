"""ExampleGen's write in bounded memory, still shuffled: an external shuffle through temporary
shard files, in place of the `beam.Reshuffle` (a GroupByKey) TFX's `write_split` puts before
writing every split.

Why: Beam's DirectRunner keeps every element that crosses a GroupByKey in the launching
process, with no spilling: at 1M Criteo rows TFX's shuffle cost +4.3 GiB there, growing with
the rows (BENCHMARKS.md, issue 25). Writing without any shuffle would keep memory flat but
leave the examples in input order, and CTR logs are often time-ordered: the Trainer's shuffle
buffer (10,000 examples) would then see one stretch of time after another.

How (two stages, each element held by one worker at a time):
1. Every example gets a key, the 8-byte keyed BLAKE2b hash of its serialized bytes with the
   shuffle seed (SEED_KEY in ExampleGen's custom_config; DEFAULT_SEED otherwise); the key picks
   one of the split's `shards` (key mod shards). Each bundle of examples appends each example to
   a temporary piece file of its shard (length-prefixed records), fused with the reading and
   partitioning, so nothing crosses a stage boundary but the pieces' names.
2. Once all pieces are written (they are a side input), each shard is one unit of work: a worker
   reads the shard's pieces, sorts the examples by key (ties by their bytes) and writes them as
   the gzipped TFRecord file `data_tfrecord-<shard>-of-<shards>.gz`.

The order the examples reach the next components (and, through Transform, the Trainer) in:
file by file, each file a uniformly random sample of the split (1/shards of it) in random
order, so reading the files in any order gives a random permutation of the split: a global
shuffle, as TFX's. The Trainer's shuffle buffer then only mixes what is already mixed, which
suffices (its buffer is not asked to undo time order). The order depends only on the examples
and the seed (not on workers, bundles or ranges), so the same input and seed give the same
output files, byte for byte; examples that are identical rows are adjacent (the same key).

Memory: one shard per worker in stage 2, ~SHARD_BYTES of serialized examples (shards are sized
from an estimate of the split's serialized bytes made before reading it; the estimate may be
off by a small factor, so is the bound); in stage 1 a 256 KiB buffer and an open piece file
per shard a bundle touched (so beyond ~1,000 shards, ~64 GB of examples in one split, raise
the open-file limit or SHARD_BYTES); the launching process holds the pieces' names only.
Disk: the split once more, as temporary pieces under the output artifact (removed after the
write). Which examples land in which split is untouched: TFX's partition runs before this.
"""
import hashlib
import math
import os
import struct
import uuid
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from apache_beam.transforms import window
from tfx.components.example_gen import utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

# Serialized examples per shard aimed at (the memory of one stage-2 worker).
SHARD_BYTES = 64 << 20
# Serialized tf.Example bytes per CSV byte, for the shard count (criteo_2k 2.8, movielens_1k
# 3.2, behaviour_3k 4.5, multitask_2k 5.2: the feature names each example repeats).
CSV_EXPANSION = 4
DEFAULT_SEED = 0
SEED_KEY = "shuffle_seed"  # in ExampleGen's custom_config
OUTPUT_FILE = write_split.DEFAULT_TF_RECORD_FILE_NAME
PIECES_FOLDER = "shuffle-pieces"  # under the Examples artifact, removed after the write
_LENGTH = struct.Struct("<I")


def shuffle_key(example: bytes, seed: int) -> bytes:
    """The example's place in the shuffled order (and, mod shards, its shard)."""
    return hashlib.blake2b(example, digest_size=8, key=seed.to_bytes(8, "little")).digest()


def shard_of(key: bytes, shards: int) -> int:
    return int.from_bytes(key, "big") % shards


def shard_count(estimated_bytes: float) -> int:
    return max(1, math.ceil(estimated_bytes / SHARD_BYTES))


def shard_path(output_split_path: str, shard: int, shards: int) -> str:
    return os.path.join(output_split_path, f"{OUTPUT_FILE}-{shard:05d}-of-{shards:05d}.gz")


class _WritePieces(beam.DoFn):
    """Examples -> the names of the piece files this bundle wrote (one per shard it touched)."""

    _FLUSH_BYTES = 256 << 10

    def __init__(self, pieces_dir: str, shards: int, seed: int):
        self._pieces_dir, self._shards, self._seed = pieces_dir, shards, seed
        self._files = self._buffers = None

    def start_bundle(self):
        self._files, self._buffers = {}, {}

    def _flush(self, shard: int):
        if shard not in self._files:
            path = os.path.join(self._pieces_dir, f"piece-{uuid.uuid4().hex}-{shard:05d}")
            self._files[shard] = (path, beam.io.filesystems.FileSystems.create(
                path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED))
        self._files[shard][1].write(bytes(self._buffers[shard]))
        self._buffers[shard].clear()

    def process(self, example: bytes):
        shard = shard_of(shuffle_key(example, self._seed), self._shards)
        buffer = self._buffers.setdefault(shard, bytearray())
        buffer += _LENGTH.pack(len(example))
        buffer += example
        if len(buffer) >= self._FLUSH_BYTES:
            self._flush(shard)
        return []  # the pieces' names come out of finish_bundle

    def finish_bundle(self):
        for shard in list(self._buffers):
            if self._buffers[shard]:
                self._flush(shard)
        for path, handle in self._files.values():
            handle.close()
            yield window.GlobalWindows.windowed_value(path)
        self._files, self._buffers = {}, {}


def read_piece(path: str) -> List[bytes]:
    with beam.io.filesystems.FileSystems.open(
            path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    examples, position = [], 0
    while position < len(data):
        (length,) = _LENGTH.unpack_from(data, position)
        position += _LENGTH.size
        examples.append(data[position:position + length])
        position += length
    return examples


class _WriteShard(beam.DoFn):
    """A shard number -> its output file: the shard's examples sorted by their keys."""

    def __init__(self, output_split_path: str, shards: int, seed: int):
        self._output, self._shards, self._seed = output_split_path, shards, seed

    def process(self, shard: int, pieces: List[str]):
        suffix = f"-{shard:05d}"
        examples = [e for path in sorted(p for p in pieces if p.endswith(suffix))
                    for e in read_piece(path)]
        examples.sort(key=lambda e: (shuffle_key(e, self._seed), e))
        path = shard_path(self._output, shard, self._shards)
        tf.io.gfile.makedirs(self._output)
        with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as out:
            for example in examples:
                out.write(example)
        yield path


class WriteShuffledSplit(beam.PTransform):
    """Serialized examples of one split -> `shards` gzipped TFRecord files in
    `output_split_path`, shuffled as the module docstring says, temporary pieces in
    `pieces_dir`."""

    def __init__(self, output_split_path: str, pieces_dir: str, shards: int, seed: int):
        super().__init__()
        self._output, self._pieces, self._shards, self._seed = (output_split_path, pieces_dir,
                                                                shards, seed)

    def expand(self, examples):
        pieces = examples | "WritePieces" >> beam.ParDo(
            _WritePieces(self._pieces, self._shards, self._seed))
        return (examples.pipeline
                | "Shards" >> beam.Create(range(self._shards))
                | "SpreadShards" >> beam.Reshuffle()
                | "WriteShards" >> beam.ParDo(_WriteShard(self._output, self._shards, self._seed),
                                              beam.pvalue.AsList(pieces)))


def shuffle_seed(exec_properties: Dict[str, Any]) -> int:
    """SEED_KEY of ExampleGen's custom_config, else DEFAULT_SEED."""
    from google.protobuf import json_format, struct_pb2
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return DEFAULT_SEED
    config = example_gen_pb2.CustomConfig()
    if isinstance(raw, str):
        json_format.Parse(raw, config)
    else:
        config.CopyFrom(raw)
    fields = struct_pb2.Struct()
    if not config.custom_config.Unpack(fields) or SEED_KEY not in fields.fields:
        return DEFAULT_SEED
    return int(fields.fields[SEED_KEY].number_value)


class ShuffledWriteExecutor(BaseExampleGenExecutor):
    """TFX's base ExampleGen executor (the same splits, by TFX's partition) with its write
    replaced by WriteShuffledSplit. Subclasses give the reading PTransform, and may refine
    `estimated_example_bytes`."""

    def estimated_example_bytes(self, files: List[str]) -> float:
        """Serialized bytes of the examples of `files` (for the shard count): CSV_EXPANSION
        times their size."""
        sizes = beam.io.filesystems.FileSystems.match(list(files)) if files else []
        return CSV_EXPANSION * sum(meta.size_in_bytes for match in sizes
                                   for meta in match.metadata_list)

    def _split_bytes(self, exec_properties, input_config, output_config) -> List[float]:
        """The estimated serialized bytes of each output split."""
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]

        def estimate(pattern):
            return self.estimated_example_bytes(fileio.glob(os.path.join(base, pattern)))
        if output_config.split_config.splits:
            total = estimate(input_config.splits[0].pattern)
            shares = [split.hash_buckets for split in output_config.split_config.splits]
            return [total * share / sum(shares) for share in shares]
        return [estimate(split.pattern) for split in input_config.splits]

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        artifact = artifact_utils.get_single_instance(examples)
        split_names = utils.generate_output_split_names(input_config, output_config)
        artifact.split_names = artifact_utils.encode_split_names(split_names)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY,
                                          example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
        write_split.to_file_format_str(file_format)  # gzipped TFRecords only, as TFX's write
        seed = shuffle_seed(exec_properties)
        shards = {name: shard_count(size) for name, size in zip(
            split_names, self._split_bytes(exec_properties, input_config, output_config))}
        pieces_root = os.path.join(artifact.uri, PIECES_FOLDER)
        try:
            with self._make_beam_pipeline() as pipeline:
                for name, split in self.GenerateExamplesByBeam(pipeline,
                                                               exec_properties).items():
                    pieces_dir = os.path.join(pieces_root, name)
                    fileio.makedirs(pieces_dir)
                    _ = split | f"WriteSplit[{name}]" >> WriteShuffledSplit(
                        artifact_utils.get_split_uri(examples, name), pieces_dir, shards[name],
                        seed)
        finally:
            if fileio.exists(pieces_root):
                fileio.rmtree(pieces_root)
        # as TFX's base executor records them
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            for output in examples:
                examples_utils.set_payload_format(output, payload_format)
        if file_format:
            for output in examples:
                examples_utils.set_file_format(output, write_split.to_file_format_str(file_format))
