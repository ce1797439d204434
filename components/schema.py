"""CurateSchema: turns SchemaGen's inferred schema into one fit for validation and serving.

SchemaGen infers a closed string domain for every low-cardinality string column, so
ExampleValidator would flag each new ad or user id as an anomaly; and it fixes feature shapes,
so a serving request that omits a feature fails to parse. The curated schema:
- checks that every column the dataset spec reads exists (clear error naming it otherwise);
- drops string domains of the spec's categorical features (new ids are expected and map to
  OOV ids), keeping types, value counts and presence checks;
- makes every non-label feature optional at parse time (no fixed shape), so missing values and
  sparse serving requests are well defined;
- keeps labels required and absent from the SERVING environment;
- types the spec's dense columns numeric (text there becomes an anomaly) and bounds the distinct
  values of categorical features with `max_categories` (TFDV unique_constraints), so that
  ExampleValidator stops such data before training (components/validation.py).
"""
import json
import os

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.dataset_spec import spec_from_config

SCHEMA_FILE = "schema.pbtxt"


def curate(schema, spec):
    """Returns a curated copy of `schema` (a schema_pb2.Schema) for dataset spec `spec`."""
    curated = schema_pb2.Schema()
    curated.CopyFrom(schema)
    columns = {f.name: f for f in curated.feature}
    missing = [c for c in spec.raw_columns if c not in columns]
    if missing:
        raise ValueError(f"Dataset spec {spec.source} reads column(s) {missing} that the data does "
                         f"not have; the data's columns are {sorted(columns)}")
    label_columns = {label.column for label in spec.labels}
    categorical = {f.name for f in spec.categorical()}
    dense = {f.name for f in spec.dense}
    bounds = {f.name: f.max_categories for f in spec.categorical()
              if getattr(f, "max_categories", None) is not None}
    del curated.default_environment[:]
    curated.default_environment.extend(["TRAINING", "SERVING"])
    for feature in curated.feature:
        if feature.name in label_columns:
            feature.presence.min_fraction = 1.0
            feature.not_in_environment.append("SERVING")
            continue
        if feature.name in categorical and feature.HasField("domain"):
            feature.ClearField("domain")
        if feature.HasField("string_domain") and feature.name in categorical:
            feature.ClearField("string_domain")
        if feature.name in dense and feature.type == schema_pb2.BYTES:
            # the spec says numeric: text in the column is an anomaly, not a new string feature
            feature.type = schema_pb2.FLOAT
            feature.ClearField("domain_info")
        if feature.name in bounds:
            feature.unique_constraints.max = bounds[feature.name]
        if feature.HasField("shape"):
            feature.ClearField("shape")
            feature.value_count.min = 1
            feature.value_count.max = 1
    used = {f.domain for f in curated.feature if f.HasField("domain")}
    kept = [d for d in curated.string_domain if d.name in used]
    del curated.string_domain[:]
    curated.string_domain.extend(kept)
    return curated


@component
def CurateSchema(schema: InputArtifact[standard_artifacts.Schema],
                 curated_schema: OutputArtifact[
                     standard_artifacts.Schema],
                 spec_json: Parameter[str],
                 code_version: Parameter[str] = "") -> None:
    """`code_version`: a fingerprint of this module and the spec parser, so that the cache key
    changes with the code (the pipeline passes pipeline.code_version(SCHEMA_SOURCES))."""
    del code_version  # only part of the cache key
    spec = spec_from_config(json.loads(spec_json))
    inferred = io_utils.parse_pbtxt_file(os.path.join(schema.uri, SCHEMA_FILE), schema_pb2.Schema())
    io_utils.write_pbtxt_file(os.path.join(curated_schema.uri, SCHEMA_FILE), curate(inferred, spec))
