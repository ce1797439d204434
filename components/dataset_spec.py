"""Dataset specs: one declarative YAML file per dataset drives Transform, the model's feature
columns and the evaluation.

Example (data/specs/criteo.yaml)::

    name: criteo
    format: csv                      # csv | tfrecord
    sample: criteo_2k.csv            # bundled data under data/samples, used when no data is given
    labels:
      - {name: label, column: label, task: binary}       # or task: regression;
                                                         # binary_threshold: 4 -> column >= 4
    dense_defaults: {fill_value: 0.0, log: true}
    dense: [I1, I2, ...]             # names, or mappings overriding the defaults
    sparse_defaults: {encoding: vocabulary, frequency_threshold: 2, embedding_dim: 4}
    sparse: [C1, {name: C2, encoding: hash, hash_buckets: 10000}, ...]
    multi_value:
      - {name: genres, separator: "|", max_length: 3, combiner: mean}
    slices: [C6, C9]
    evaluation: {auc_threshold: 0.6, auc_change_threshold: -0.01}
    split: {train: 9, eval: 1}

Id layout produced by Transform (documented safe mappings):
- `vocabulary` features of one `vocab_group` share one id space (one embedding table):
  0 = padding (multi-value only), 1 + i = out-of-vocabulary for the group's i-th feature (unseen
  values, values under `frequency_threshold` or beyond `top_k`), then one id per vocabulary token.
  A missing value is the token "<feature>=" and is learned like any other value when frequent.
- `hash` features: 0 = padding / missing, 1 + fingerprint(value) mod (hash_buckets - 1) otherwise.
- dense features: missing -> fill_value; optional log transform sign(x)*log1p(|x|) (so negative
  values such as Criteo's I2 stay defined); min-max scaled to [0, 1] with train-time min/max and
  clipped to [0, 1] at serving.
"""
import copy
import dataclasses
import os
from typing import List, Optional

import yaml

SPEC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                        "specs")
TASKS = ("binary", "regression")
ENCODINGS = ("vocabulary", "hash")
COMBINERS = ("sum", "mean", "max")
DEFAULT_GROUP_NAME = "default_group"  # the DeepCTR feature group (FM/FLEN groups)


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    name: str
    column: str
    task: str = "binary"
    binary_threshold: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class DenseSpec:
    name: str
    fill_value: float = 0.0
    log: bool = False


@dataclasses.dataclass(frozen=True)
class CategoricalSpec:
    """How a categorical feature becomes ids (see the id layout above) and which embedding
    dimension and DeepCTR feature group it gets."""
    name: str
    encoding: str = "vocabulary"
    frequency_threshold: int = 1
    top_k: Optional[int] = None
    hash_buckets: Optional[int] = None
    embedding_dim: int = 4
    group: str = DEFAULT_GROUP_NAME
    vocab_group: str = "ids"


@dataclasses.dataclass(frozen=True)
class SparseSpec(CategoricalSpec):
    """A feature with one value per example."""


@dataclasses.dataclass(frozen=True)
class MultiValueSpec(CategoricalSpec):
    """A feature holding several values in one cell ("Comedy|Drama"), or a behaviour sequence.

    `vocab_of` makes the values share ids (and so embeddings) with another feature, e.g. a
    history of movie ids with `movie_id`. `keep` chooses which values survive truncation to
    `max_length`: the first ones, or the last (most recent) ones for sequences.
    """
    separator: str = "|"
    max_length: int = 5
    combiner: str = "mean"
    vocab_of: Optional[str] = None
    keep: str = "first"


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """Blessing gates on the overall eval slice. Binary labels: AUC >= auc_threshold and AUC no
    more than |auc_change_threshold| below the baseline. Regression labels: MSE <= max_mse (when
    set) and MSE at most mse_relative_change above the baseline's (0.01 = 1% worse)."""
    auc_threshold: float = 0.5
    auc_change_threshold: float = -0.01
    max_mse: Optional[float] = None
    mse_relative_change: float = 0.01
    slices: tuple = ()


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    labels: List[LabelSpec]
    dense: List[DenseSpec]
    sparse: List[SparseSpec]
    multi_value: List[MultiValueSpec]
    evaluation: EvaluationSpec
    format: str = "csv"
    split: tuple = (("train", 9), ("eval", 1))
    sample: Optional[str] = None  # bundled sample file under data/samples (the default data)
    source: str = "<dict>"

    # -- derived views ---------------------------------------------------------------------
    @property
    def task(self):
        return self.labels[0].task

    @property
    def label_names(self):
        return [label.name for label in self.labels]

    @property
    def raw_columns(self):
        """Raw input columns the spec reads (label columns first)."""
        cols = [label.column for label in self.labels]
        cols += [f.name for f in self.dense] + [f.name for f in self.sparse]
        cols += [f.name for f in self.multi_value]
        return list(dict.fromkeys(cols))

    def categorical(self):
        """Sparse then multi-value feature specs, in spec order."""
        return list(self.sparse) + list(self.multi_value)

    def vocab_groups(self):
        """vocab_group -> [feature specs sharing that id space], in spec order.

        A multi-value feature with `vocab_of` joins the group of the feature it borrows from and
        uses that feature's tokens."""
        by_name = {f.name: f for f in self.categorical()}
        groups = {}
        for f in self.categorical():
            owner = by_name[f.vocab_of] if getattr(f, "vocab_of", None) else f
            if owner.encoding == "vocabulary" and not getattr(f, "vocab_of", None):
                groups.setdefault(owner.vocab_group, []).append(f)
        return groups

    def token_prefix(self, feature):
        """Tokens are '<field>=<value>'; a `vocab_of` feature uses its owner's field name."""
        return (getattr(feature, "vocab_of", None) or feature.name) + "="

    def to_dict(self):
        return dataclasses.asdict(self)

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw, source="<dict>"):
        return _parse(copy.deepcopy(raw), source)


def _err(source, field, message):
    return SpecError(f"{source}: {field}: {message}")


def _as_entry(item, source, section):
    if isinstance(item, str):
        return {"name": item}
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return dict(item)
    raise _err(source, section, f"each entry must be a name or a mapping with 'name', got {item!r}")


def _build(cls, entry, defaults, source, section):
    allowed = {f.name for f in dataclasses.fields(cls)}
    merged = {**defaults, **entry}
    unknown = sorted(set(merged) - allowed)
    if unknown:
        raise _err(source, f"{section}.{entry.get('name')}", f"unknown keys {unknown}; "
                   f"allowed: {sorted(allowed)}")
    try:
        return cls(**merged)
    except TypeError as e:
        raise _err(source, f"{section}.{entry.get('name')}", str(e)) from None


def _parse(raw, source):
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping")
    known = {"name", "description", "format", "sample", "labels", "dense_defaults", "dense",
             "sparse_defaults", "sparse", "multi_value_defaults", "multi_value", "slices",
             "evaluation", "split"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _err(source, "<top level>", f"unknown keys {unknown}; allowed: {sorted(known)}")
    name = raw.get("name") or os.path.splitext(os.path.basename(source))[0]
    labels = [_build(LabelSpec, _as_entry(x, source, "labels"), {}, source, "labels")
              for x in raw.get("labels") or []]
    if not labels:
        raise _err(source, "labels", "at least one label is required")
    for label in labels:
        label_field = f"labels.{label.name}"
        if label.task not in TASKS:
            raise _err(source, label_field, f"task must be one of {TASKS}, got {label.task!r}")
        if label.binary_threshold is not None and label.task != "binary":
            raise _err(source, label_field, "binary_threshold only applies to task: binary")
    dense = [_build(DenseSpec, _as_entry(x, source, "dense"), raw.get("dense_defaults") or {},
                    source, "dense") for x in raw.get("dense") or []]
    sparse = [_build(SparseSpec, _as_entry(x, source, "sparse"), raw.get("sparse_defaults") or {},
                     source, "sparse") for x in raw.get("sparse") or []]
    multi = [_build(MultiValueSpec, _as_entry(x, source, "multi_value"),
                    {**_categorical_defaults(raw.get("sparse_defaults")),
                     **(raw.get("multi_value_defaults") or {})}, source, "multi_value")
             for x in raw.get("multi_value") or []]
    evaluation_raw = dict(raw.get("evaluation") or {})
    slices = raw.get("slices") or []
    evaluation = EvaluationSpec(**_checked_keys(evaluation_raw, EvaluationSpec, source,
                                                "evaluation"), slices=tuple(slices))
    split = raw.get("split") or {"train": 9, "eval": 1}
    if set(split) != {"train", "eval"} or not all(isinstance(v, int) and v > 0
                                                   for v in split.values()):
        raise _err(source, "split", f"must map train and eval to positive ints, got {split!r}")
    spec = DatasetSpec(name=name, labels=labels, dense=dense, sparse=sparse, multi_value=multi,
                       evaluation=evaluation, format=raw.get("format", "csv"),
                       split=(("train", split["train"]), ("eval", split["eval"])),
                       sample=raw.get("sample"), source=source)
    _validate(spec)
    return spec


def _categorical_defaults(sparse_defaults):
    """sparse_defaults also apply to multi-value features (where the key exists there)."""
    allowed = {f.name for f in dataclasses.fields(MultiValueSpec)}
    return {k: v for k, v in (sparse_defaults or {}).items() if k in allowed}


def _checked_keys(raw, cls, source, section):
    allowed = {f.name for f in dataclasses.fields(cls)} - {"slices"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _err(source, section, f"unknown keys {unknown}; allowed: {sorted(allowed)}")
    return raw


def _validate(spec):
    src = spec.source
    if spec.format not in ("csv", "tfrecord"):
        raise _err(src, "format", f"must be csv or tfrecord, got {spec.format!r}")
    names = [label.name for label in spec.labels] + [f.name for f in spec.dense]
    names += [f.name for f in spec.categorical()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(src, "features", f"duplicate names {dupes}")
    if not spec.dense and not spec.categorical():
        raise _err(src, "features", "declare at least one dense, sparse or multi_value feature")
    by_name = {f.name: f for f in spec.categorical()}
    for f in spec.categorical():
        section = ("sparse." if isinstance(f, SparseSpec) else "multi_value.") + f.name
        if f.encoding not in ENCODINGS:
            raise _err(src, section, f"encoding must be one of {ENCODINGS}, got {f.encoding!r}")
        if f.encoding == "hash" and not (isinstance(f.hash_buckets, int) and f.hash_buckets > 1):
            raise _err(src, section, "encoding: hash needs hash_buckets > 1")
        if f.frequency_threshold < 1:
            raise _err(src, section, "frequency_threshold must be >= 1")
        if not isinstance(f.embedding_dim, int) or f.embedding_dim < 1:
            raise _err(src, section, f"embedding_dim must be a positive int, got {f.embedding_dim!r}")
        if isinstance(f, MultiValueSpec):
            if f.combiner not in COMBINERS:
                raise _err(src, section, f"combiner must be one of {COMBINERS}, got {f.combiner!r}")
            if f.keep not in ("first", "last"):
                raise _err(src, section, f"keep must be first or last, got {f.keep!r}")
            if f.max_length < 1:
                raise _err(src, section, "max_length must be >= 1")
            if f.vocab_of is not None:
                owner = by_name.get(f.vocab_of)
                if owner is None or isinstance(owner, MultiValueSpec):
                    raise _err(src, section, f"vocab_of must name a sparse feature, got "
                                             f"{f.vocab_of!r}")
                if owner.encoding != "vocabulary":
                    raise _err(src, section, f"vocab_of {f.vocab_of!r} must use vocabulary encoding")
                if owner.embedding_dim != f.embedding_dim:
                    raise _err(src, section, f"embedding_dim {f.embedding_dim} differs from "
                                             f"{f.vocab_of!r}'s {owner.embedding_dim}")
    for group, members in spec.vocab_groups().items():
        settings = {(f.frequency_threshold, f.top_k) for f in members}
        if len(settings) > 1:
            raise _err(src, f"vocab_group {group!r}", "features sharing a vocabulary must agree on "
                       f"frequency_threshold and top_k ({[f.name for f in members]}); give the "
                       "others their own vocab_group")
    feature_names = set(names) | {label.column for label in spec.labels}
    for s in spec.evaluation.slices:
        if s not in feature_names:
            raise _err(src, "slices", f"{s!r} is not a declared feature")


def load_spec(name_or_path):
    """Loads a spec by dataset name (data/specs/<name>.yaml) or by path."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(SPEC_DIR, f"{name_or_path}.yaml")
    if not os.path.exists(path):
        available = sorted(os.path.splitext(f)[0] for f in os.listdir(SPEC_DIR)
                           if f.endswith(".yaml"))
        raise SpecError(f"No dataset spec {name_or_path!r}: not a file, and not one of {available}")
    with open(path) as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise SpecError(f"{path}: invalid YAML: {e}") from None
    return DatasetSpec.from_dict(raw, source=path)


def spec_from_config(config):
    """Rebuilds a spec from the JSON-safe dict the pipeline passes in components' custom_config."""
    raw = copy.deepcopy(config)
    source = raw.pop("source", "<custom_config>")
    labels = [LabelSpec(**x) for x in raw.pop("labels")]
    dense = [DenseSpec(**x) for x in raw.pop("dense")]
    sparse = [SparseSpec(**x) for x in raw.pop("sparse")]
    multi = [MultiValueSpec(**x) for x in raw.pop("multi_value")]
    ev = raw.pop("evaluation")
    evaluation = EvaluationSpec(**{**ev, "slices": tuple(ev.get("slices", ()))})
    split = tuple(tuple(x) for x in raw.pop("split"))
    return DatasetSpec(labels=labels, dense=dense, sparse=sparse, multi_value=multi,
                       evaluation=evaluation, split=split, source=source, **raw)
