"""An ExampleGen executor run in-process on a folder of input files, as TFX's launcher calls it
(tests/test_fast_csv.py, test_parquet_input.py, test_shuffled_write.py)."""
import collections
import glob
import os

import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils


def run_example_gen(executor_class, input_base, output_dir, splits, pattern="*",
                    **extra_properties):
    """Runs `executor_class` on the files of `input_base` matching `pattern` (one input split),
    hash-split into `splits` ((name, hash buckets), ...), writing under `output_dir`.
    `extra_properties`: more exec_properties (custom_config, ...)."""
    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    exec_properties = {
        **extra_properties,
        standard_component_specs.INPUT_BASE_KEY: input_base,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                name="single_split", pattern=pattern)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in splits]))),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    executor_class().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]},
                        exec_properties)


def split_files(output_dir, name):
    """The files an ExampleGen wrote for split `name`, sorted by name."""
    return sorted(glob.glob(os.path.join(output_dir, f"Split-{name}", "*")))


def split_examples(output_dir, splits):
    """{split: Counter of its examples' deterministic serializations} (TFX writes a tf.Example's
    feature map in any order, so examples compare serialized deterministically)."""
    result = {}
    for name, _ in splits:
        files = split_files(output_dir, name)
        assert files, name
        result[name] = collections.Counter(
            tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True)
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return result
