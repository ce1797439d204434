"""Raw rows -> the serialized tf.Examples a pushed model's serving signature takes, typed by the
raw-data schema the Trainer exports beside the SavedModel (`assets.extra/raw_schema.pbtxt`).
Shared by `predict` (CSV files), `serve` (JSON requests) and the Pusher (warm-up requests)."""
import os
from typing import Dict, List

RAW_SCHEMA_FILE = os.path.join("assets.extra", "raw_schema.pbtxt")
SIGNATURE = "serving_default"


class InputError(ValueError):
    """A bad input file: names the file, the row and the field."""


def load_raw_schema(model_dir: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    path = os.path.join(model_dir, RAW_SCHEMA_FILE)
    if not os.path.exists(path):
        raise SystemExit(f"{model_dir}: no {RAW_SCHEMA_FILE} (exported by an older Trainer?); "
                         f"re-run the pipeline to export it")
    with open(path) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


class RowEncoder:
    """CSV rows (dicts of strings) -> serialized tf.Examples typed by the raw schema."""

    def __init__(self, schema, source: str):
        from tensorflow_metadata.proto.v0 import schema_pb2
        self.source = source
        self.types = {f.name: f.type for f in schema.feature}
        self.required = [f.name for f in schema.feature if "SERVING" not in f.not_in_environment]
        self._int, self._float = schema_pb2.INT, schema_pb2.FLOAT

    def check_header(self, header: List[str]):
        missing = [c for c in self.required if c not in header]
        if missing:
            raise InputError(f"{self.source}: missing required column(s) {missing}; the header "
                             f"has {header}")

    def encode(self, row: Dict[str, str], row_number: int) -> bytes:
        import tensorflow as tf
        features = {}
        for name, kind in self.types.items():
            cell = row.get(name)
            if cell is None or cell == "":  # missing value: omitted, as in serving
                continue
            try:
                if kind == self._int:
                    features[name] = tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[int(cell)]))
                elif kind == self._float:
                    features[name] = tf.train.Feature(float_list=tf.train.FloatList(
                        value=[float(cell)]))
                else:
                    features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[cell.encode("utf-8")]))
            except ValueError:
                expected = "an integer" if kind == self._int else "a number"
                raise InputError(f"{self.source} row {row_number}, field {name}: {cell!r} is "
                                 f"not {expected}") from None
        return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
