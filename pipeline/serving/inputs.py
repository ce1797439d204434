"""Request bodies -> serialized tf.Examples for the serving signature; every bad input is a
RequestError naming the instance, the feature and the value (HTTP 400, gRPC INVALID_ARGUMENT).

Raw feature dicts (the column names and values a client logged, as in the dataset's CSV) are
encoded by pipeline/predict.py's RowEncoder, so a request scores exactly as `predict` scores the
same row: a missing or null feature is a missing value, unseen categories go to the
out-of-vocabulary ids. Serialized tf.Examples (TF Serving's `{"b64": ...}` in JSON, a DT_STRING
tensor over gRPC) are checked against the raw-data schema before they are batched with other
requests."""
import base64
import binascii
from typing import Dict, List, Mapping

from components.raw_examples import InputError, RowEncoder
from components.serving_warmup import EXAMPLES_INPUT


class RequestError(ValueError):
    """A bad request: the message says which instance, feature and value."""


def json_cell(value, where: str, feature: str) -> str:
    """A JSON value of a raw feature -> the CSV cell text RowEncoder reads ('' = missing)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RequestError(f"{where}, feature {feature}: {value!r} is not a single number or "
                           f"string (multi-value and history features are one string with "
                           f"their separator)")
    return value if isinstance(value, str) else repr(value)


class ExampleEncoder:
    """The model's raw-data schema applied to request bodies."""

    def __init__(self, schema, max_instances: int):
        self.rows = RowEncoder(schema, "request")
        self.types = dict(self.rows.types)
        self.max_instances = max_instances

    def check_count(self, count: int, what: str):
        if count == 0:
            raise RequestError(f"{what}: no instances")
        if count > self.max_instances:
            raise RequestError(f"{what}: {count} instances; at most {self.max_instances} per "
                               f"request")

    def encode_raw(self, features: Mapping, index: int, what: str) -> bytes:
        where = f"{what}[{index}]"
        unknown = sorted(set(features) - set(self.types))
        if unknown:
            raise RequestError(f"{where}: unknown feature {unknown[0]!r}; the model reads "
                               f"{sorted(self.types)}")
        cells = {name: json_cell(value, where, name) for name, value in features.items()}
        try:
            return self.rows.encode(cells, index)
        except InputError as error:  # "request row 3, field I1: 'abc' is not a number"
            detail = str(error).split(", field ", 1)[-1]
            raise RequestError(f"{where}, feature {detail}") from None

    def decode_b64(self, value, index: int, what: str) -> bytes:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RequestError(f"{what}[{index}]: 'b64' is not base64 text") from None

    def instance(self, item, index: int, what: str = "instances") -> bytes:
        """One row-format instance: a raw feature dict, `{"b64": <serialized tf.Example>}` or
        `{"examples": {"b64": ...}}` (TF Serving's forms for a string input)."""
        if not isinstance(item, dict):
            raise RequestError(f"{what}[{index}]: {str(item)[:80]!r} is not an object of "
                               f"features")
        if set(item) == {"b64"}:
            return self.check_serialized(self.decode_b64(item, index, what), index, what)
        if set(item) == {EXAMPLES_INPUT} and isinstance(item[EXAMPLES_INPUT], dict):
            return self.check_serialized(self.decode_b64(item[EXAMPLES_INPUT], index, what),
                                         index, what)
        return self.encode_raw(item, index, what)

    def from_instances(self, instances) -> List[bytes]:
        if not isinstance(instances, list):
            raise RequestError("'instances' must be a list")
        self.check_count(len(instances), "instances")
        return [self.instance(item, i) for i, item in enumerate(instances)]

    def from_inputs(self, inputs) -> List[bytes]:
        """Columnar: `{"I1": [..], "C1": [..]}` (raw columns of one length; a null is missing),
        `{"examples": [{"b64": ...}, ...]}` or a bare list of `{"b64": ...}`."""
        if isinstance(inputs, dict) and set(inputs) == {EXAMPLES_INPUT}:
            inputs = inputs[EXAMPLES_INPUT]
        if isinstance(inputs, list):
            self.check_count(len(inputs), "inputs")
            return [self.check_serialized(self.decode_b64(item, i, "inputs"), i, "inputs")
                    if isinstance(item, dict) and set(item) == {"b64"}
                    else self.instance(item, i, "inputs") for i, item in enumerate(inputs)]
        if not isinstance(inputs, dict) or not inputs:
            raise RequestError("'inputs' must be an object of feature columns or a list")
        lengths = {}
        for name, column in inputs.items():
            if not isinstance(column, list):
                raise RequestError(f"inputs[{name!r}]: {str(column)[:80]!r} is not a list (one "
                                   f"value per instance)")
            lengths[name] = len(column)
        if len(set(lengths.values())) > 1:
            raise RequestError(f"inputs: the columns differ in length ({lengths})")
        count = next(iter(lengths.values()))
        self.check_count(count, "inputs")
        return [self.encode_raw({name: column[i] for name, column in inputs.items()}, i,
                                "inputs") for i in range(count)]

    def from_body(self, body) -> List[bytes]:
        """TF Serving's predict body: exactly one of `instances` and `inputs`."""
        if not isinstance(body, dict):
            raise RequestError("the body must be a JSON object with 'instances' or 'inputs'")
        keys = {"instances", "inputs"} & set(body)
        if len(keys) != 1:
            raise RequestError("the body needs exactly one of 'instances' (row format) and "
                               "'inputs' (columnar format)")
        unknown = sorted(set(body) - {"instances", "inputs", "signature_name"})
        if unknown:
            raise RequestError(f"unknown key {unknown[0]!r} in the body")
        if "instances" in body:
            return self.from_instances(body["instances"])
        return self.from_inputs(body["inputs"])

    def check_serialized(self, serialized: bytes, index: int, what: str) -> bytes:
        """`serialized` when it parses as a tf.Example whose features have the schema's types
        (features the model does not read are ignored, as the signature's parsing does)."""
        import tensorflow as tf
        from google.protobuf.message import DecodeError
        from tensorflow_metadata.proto.v0 import schema_pb2
        try:
            example = tf.train.Example.FromString(serialized)
        except DecodeError:
            raise RequestError(f"{what}[{index}]: not a serialized tf.Example") from None
        expected = {schema_pb2.INT: "int64_list", schema_pb2.FLOAT: "float_list",
                    schema_pb2.BYTES: "bytes_list"}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            want = expected.get(self.types.get(name))
            if want is not None and kind is not None and kind != want:
                raise RequestError(f"{what}[{index}], feature {name}: a {kind}; the model reads "
                                   f"it as a {want}")
        return serialized

    def from_tensor(self, tensor_proto) -> List[bytes]:
        """gRPC: the `examples` input, a DT_STRING tensor of serialized tf.Examples."""
        import tensorflow as tf
        if tensor_proto.dtype != tf.string.as_datatype_enum:
            raise RequestError(f"inputs['{EXAMPLES_INPUT}']: dtype "
                               f"{tf.dtypes.as_dtype(tensor_proto.dtype).name}; the signature "
                               f"takes DT_STRING (serialized tf.Examples)")
        try:
            values = tf.make_ndarray(tensor_proto).ravel()
        except (TypeError, ValueError) as error:
            raise RequestError(f"inputs['{EXAMPLES_INPUT}']: not a readable tensor ({error})") \
                from None
        self.check_count(len(values), f"inputs['{EXAMPLES_INPUT}']")
        return [self.check_serialized(bytes(v), i, f"inputs['{EXAMPLES_INPUT}']")
                for i, v in enumerate(values)]


def outputs_as_rows(outputs: Dict[str, "object"]) -> list:
    """TF Serving's row-format answer: one value per instance (its list of the output's values),
    or a dict of output name -> values when the signature has several outputs."""
    names = sorted(outputs)
    if len(names) == 1:
        return outputs[names[0]].tolist()
    count = len(outputs[names[0]])
    return [{name: outputs[name][i].tolist() for name in names} for i in range(count)]


def outputs_as_columns(outputs: Dict[str, "object"]):
    """TF Serving's columnar answer: the output's values, or a dict of them by output name."""
    names = sorted(outputs)
    if len(names) == 1:
        return outputs[names[0]].tolist()
    return {name: outputs[name].tolist() for name in names}
