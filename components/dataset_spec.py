"""Dataset specs: one declarative YAML file per dataset drives Transform, the model's feature
columns and the evaluation.

Example (data/specs/criteo.yaml)::

    name: criteo
    format: csv                      # csv | parquet | tfrecord (see "Input formats" below)
    sample: criteo_2k.csv            # bundled data under data/samples, used when no data is given
    columns: [label, I1, ...]        # CSV files WITHOUT a header line: the column names;
                                     # parquet: the columns read (default: all)
    labels:
      - {name: label, column: label, task: binary}       # or task: regression;
                                                         # binary_threshold: 4 -> column >= 4
    # several labels = a multi-task model (one output per label, named by the label):
    #   - {name: income, column: income_50k, mapping: {"50000+.": 1, "- 50000.": 0},
    #      loss_weight: 1.0, auc_threshold: 0.7, auc_change_threshold: -0.02}
    #   - {name: never_married, column: marital_stat, mapping: {Never married: 1}, unmapped: 0}
    # mapping keys and values are compared after stripping whitespace; a value not in the
    # mapping becomes `unmapped`, or fails Transform when `unmapped` is not set (an empty cell
    # is then a missing label).
    dense_defaults: {fill_value: 0.0, log: true}
    dense: [I1, I2, ...]             # names, or mappings overriding the defaults
    sparse_defaults: {encoding: vocabulary, frequency_threshold: 2, embedding_dim: 4}
    # also: embedding_init_std (stddev of the embedding init; default DeepCTR's 1e-4)
    sparse: [C1, {name: C2, encoding: hash, hash_buckets: 10000}, ...]
    multi_value:
      - {name: genres, separator: "|", max_length: 3, combiner: mean}
    slices: [C6, C9]                 # or {name: C9, top_values: 20}: its 20 most frequent values
    evaluation: {auc_threshold: 0.6, auc_change_threshold: -0.01}
    # also slice_top_values (default 100): the limit for every vocabulary-encoded slice feature
    split: {train: 8, validation: 1, test: 1}   # the default; see "Splits" below
    drift: {categorical_linf: 0.3, numeric_js: 0.6}   # the defaults; see "Drift" below

Splits: three roles, so that no row that informed a training decision is in the test split.
- `train`: the rows the model is fitted on (and Transform's vocabularies and scaling are
  analysed on);
- `validation`: what the Trainer decides on: per-epoch metrics and early stopping's kept epoch;
- `test`: the Evaluator's metrics, the blessing, the report and the leaderboard.
How rows are assigned (`split:`):
- `{train: 8, validation: 1, test: 1}`: ExampleGen's hash of the whole row, in these shares;
- `{train: 8, validation: 1, test: 1, by: user_id}`: the hash of one column's value (TFX's
  `partition_feature_name`): every row of a user lands in one split;
- `{by: timestamp, order: time, train: 8, validation: 1, test: 1}`: time order: the last tenth
  of the rows by `timestamp` is test, the tenth before it validation (rows of one timestamp stay
  in one split); components/splits.py;
- `{by: day, values: {train: [0, 1, 2], validation: [3], test: [4]}}`: explicit values of a
  column (every value must be listed; a row with another value fails the split);
- `{files: {train: "train/*", validation: "validation/*", test: "test/*"}}`: input files per
  split (patterns relative to `--data`, or to each span's folder); a `--data` folder holding
  `train/`, `validation/` and `test/` sub-folders is read this way without saying so.
- Two-way specs (`{train: t, eval: e}`, the old format) keep working: `eval` is the test split,
  and the validation split is carved from train by hash: `{train: 9t, validation: t, test: 10e}`
  (a tenth of the old train share), so no test row informs training.

Input formats (`format:`):
- `csv`: files with a header line (or `columns:` for files without one), read in byte ranges
  spread over the Beam workers (components/fast_csv.py); each column's type is inferred over
  all rows of the split with TFX's rule (INT -> FLOAT -> STRING); an empty cell is a missing
  value.
- `parquet`: Parquet files, read by row groups spread over the workers
  (components/parquet_input.py); the same examples as CSV of the same rows, in the same splits:
  integer and boolean columns are INT, floating-point columns FLOAT, text columns follow the
  CSV rule (a text column of numbers is a number column), a null or an empty string is a
  missing value; other types (timestamps, lists, ...) are refused naming the column. `columns:`
  lists the columns read (others are skipped); without it every column is read and all files
  of a split must have the same columns.
- `tfrecord`: serialized tf.train.Examples (TFX's ImportExampleGen).

Drift (`drift:`, read by `python -m pipeline retrain`; components/drift.py): TFDV's comparators
between the newest span's train split and the train split of the last span a model was trained
on (its StatisticsGen output, found in ML-Metadata), and between the train and test splits of the
run (skew):
- `categorical_linf` (default 0.3): the L-infinity distance of a text (categorical) column, the
  largest change of any one value's share of the rows; consecutive spans of the generated
  Criteo data drifting by `drift=0.3` measure <= 0.12, a span shifted by `drift=1.0` up to 0.8;
- `numeric_js` (default 0.6): the approximate Jensen-Shannon divergence (0 = same histogram,
  1 = disjoint) of a numeric column's histograms. TFDV approximates it from 10-bucket histograms,
  which is coarse for heavy-tailed counts: spans of the generated Criteo data drawn from one
  distribution measure up to 0.46 (4,800 train rows each) and 0.53 (800 against 4,800), while
  multiplying every dense column by 10 measures 0.49-0.83;
- `skew_categorical_linf`, `skew_numeric_js` (default: the drift thresholds): the same for train
  vs test; skew is measured and shown (summary, report), it does not stop the run (against a
  small test split the numeric noise is larger: 4,800 train against 600 test rows of one
  distribution measured up to 0.63);
- `features` (default: every dense, sparse and multi_value feature): the columns compared.
A comparator is chosen by the column's type in the statistics (text: L-infinity, numbers:
Jensen-Shannon), so a sparse column of integers is compared as numbers. A span whose drift
exceeds a threshold stops `retrain` before Transform (exit status 5) unless `--allow-drift`.

Id layout produced by Transform (documented safe mappings):
- `vocabulary` features of one `vocab_group` share one id space (one embedding table):
  0 = padding (multi-value only), 1 + i = out-of-vocabulary for the group's i-th feature (unseen
  values, values under `frequency_threshold` or beyond `top_k`), then one id per vocabulary token.
  A missing value is the token "<feature>=" and is learned like any other value when frequent.
- `hash` features: 0 = padding / missing, 1 + fingerprint(value) mod (hash_buckets - 1) otherwise.
- dense features: missing, NaN and ±inf -> fill_value, then clipped to ±1e18 (components/
  transform.py DENSE_LIMIT); optional log transform sign(x)*log1p(|x|) (so negative
  values such as Criteo's I2 stay defined); min-max scaled to [0, 1] with train-time min/max and
  clipped to [0, 1] at serving.
"""
import copy
import dataclasses
import difflib
import os
import re
from typing import Dict, List, Optional

import yaml

SPEC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                        "specs")
TASKS = ("binary", "regression")
# A dataset name is a folder name: the default run root is runs/<name> and the pipeline is
# ctr_<name>, so a name with a slash or '..' would write outside runs/.
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ENCODINGS = ("vocabulary", "hash")
COMBINERS = ("sum", "mean", "max")
DEFAULT_GROUP_NAME = "default_group"  # the DeepCTR feature group (FM/FLEN groups)


# The three split roles (see "Splits" above), in ExampleGen's order.
TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT = "train", "validation", "test"
SPLIT_NAMES = (TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT)
DEFAULT_SPLIT = ((TRAIN_SPLIT, 8), (VALIDATION_SPLIT, 1), (TEST_SPLIT, 1))
SPLIT_ORDERS = ("hash", "time", "values", "files")
FORMATS = ("csv", "parquet", "tfrecord")  # see "Input formats" above


class SpecError(ValueError):
    """A dataset spec that cannot be used; the message names the file and the field."""


# The blessing gate: keys of a label (or defaults in the spec's `evaluation`) that the Evaluator's
# thresholds on the overall eval slice read (components.evaluation.eval_config). A candidate is
# blessed only when every label passes its gate.
# Binary labels: eval AUC >= auc_threshold, and AUC at most |auc_change_threshold| below the
# baseline's (the latest blessed model).
BINARY_GATE_KEYS = ("auc_threshold", "auc_change_threshold")
# Regression labels: MSE <= max_mse (when set), and MSE at most mse_relative_change above the
# baseline's (0.01 = 1% worse).
REGRESSION_GATE_KEYS = ("max_mse", "mse_relative_change")
# Every gate key; they are left out of the spec the other components read
# (spec_without_gates), so that a new threshold re-runs only the Evaluator and Pusher.
GATE_KEYS = BINARY_GATE_KEYS + REGRESSION_GATE_KEYS


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """One training target (one model output, one TFMA output, one blessing gate).

    The label is the column's number, or `column >= binary_threshold`, or `mapping` applied to
    the column's text: values are compared after stripping surrounding whitespace (" 50000+."
    matches "50000+."); a value missing from the mapping (or an empty cell) becomes `unmapped`
    when set; otherwise a present value outside the mapping fails Transform naming the label, and
    an empty cell is a missing label (NaN, like a missing numeric label). `loss_weight` weighs this label's loss in the sum the
    model minimises. The gate keys (auc_* for binary, max_mse/mse_relative_change for
    regression) override the spec-level `evaluation` values for this label."""
    name: str
    column: str
    task: str = "binary"
    binary_threshold: Optional[float] = None
    mapping: Optional[Dict[str, float]] = None
    unmapped: Optional[float] = None
    loss_weight: float = 1.0
    auc_threshold: Optional[float] = None
    auc_change_threshold: Optional[float] = None
    max_mse: Optional[float] = None
    mse_relative_change: Optional[float] = None


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
    # Stddev of the embedding rows' random-normal init; None = DeepCTR's 1e-4. Sequence models
    # whose attention/LayerNorm sees embeddings next to O(1) position encodings need O(0.1-1).
    embedding_init_std: Optional[float] = None
    # Most distinct values the data may hold (None: no bound); more is a data anomaly that stops
    # the run before training (components/validation.py).
    max_categories: Optional[int] = None


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
class BehaviourSpec:
    """The `behaviour:` section: how components/history.py turns an event log into behaviour
    sequences (DeepCTR's naming), generated as multi-value features with `vocab_of`:

        behaviour: {user: user_id, item: item_id, attributes: [cate_id], time: timestamp,
                    positive: label, positive_threshold: 1, max_length: 10, negatives: 0,
                    session_gap_seconds: 1800, sess_max_count: 5, split: time}

    For each X in `history_feature_list` (= item + attributes, each a declared vocabulary-encoded
    sparse feature): `hist_X` = the user's most recent `max_length` positive events strictly
    before the event's time (oldest first); with `negatives: 1` also `neg_hist_X`, one sampled
    item the user never interacted with per history position (for DIEN's auxiliary loss); with
    `session_gap_seconds`, `sess_<i>_X` for i < sess_max_count: the positives of the user's
    earlier sessions (a new session starts after a gap longer than session_gap_seconds between
    two of the user's events), sess_0 the most recent, at most `sess_max_length` items each.
    An event is positive when `positive` >= positive_threshold (every event when `positive` is
    not set). `split: time` puts the last eval share of the log (by time) in eval; `split:
    example_gen` keeps ExampleGen's hash split. `history_in_other_models: false` keeps hist_X
    out of models without `history_feature_list` (neg_hist_X and sess_* always are)."""
    user: str
    item: str
    time: str
    attributes: tuple = ()
    positive: Optional[str] = None
    positive_threshold: float = 1.0
    max_length: int = 10
    negatives: int = 0
    session_gap_seconds: Optional[float] = None
    sess_max_count: int = 5
    sess_max_length: Optional[int] = None
    separator: str = "|"
    split: str = "time"
    seed: int = 0
    history_in_other_models: bool = True

    @property
    def history_feature_list(self):
        return [self.item] + list(self.attributes)

    @property
    def sessions(self):
        return self.session_gap_seconds is not None

    @property
    def session_length(self):
        return self.sess_max_length or self.max_length

    def generated(self):
        """(column, candidate feature, max_length) of every column the history builder writes
        and the spec exposes as a feature, in a fixed order."""
        out = [(f"hist_{x}", x, self.max_length) for x in self.history_feature_list]
        if self.negatives:
            out += [(f"neg_hist_{x}", x, self.max_length) for x in self.history_feature_list]
        if self.sessions:
            out += [(f"sess_{i}_{x}", x, self.session_length)
                    for i in range(self.sess_max_count) for x in self.history_feature_list]
        return out

    def generated_names(self):
        return [name for name, _, _ in self.generated()]


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """Blessing gates on the overall eval slice. Binary labels: AUC >= auc_threshold and AUC no
    more than |auc_change_threshold| below the baseline. Regression labels: MSE <= max_mse (when
    set) and MSE at most mse_relative_change above the baseline's (0.01 = 1% worse).

    `slices`: the features TFMA slices by (raw values). A vocabulary-encoded sparse slice feature
    is limited to its `slice_top_values` most frequent values (None: every value), or to its own
    `top_values` (`slices: [{name: C9, top_values: 20}]`, kept in `slice_limits`); see
    components/evaluation.py for how the values are chosen and why the metrics stay the same."""
    auc_threshold: float = 0.5
    auc_change_threshold: float = -0.01
    max_mse: Optional[float] = None
    mse_relative_change: float = 0.01
    slices: tuple = ()
    slice_top_values: Optional[int] = 100
    slice_limits: tuple = ()  # ((feature, top_values), ...) given per slice in the spec

    def top_values(self, feature) -> Optional[int]:
        """The most frequent values of slice `feature` to keep (None: all of them)."""
        return dict(self.slice_limits).get(feature, self.slice_top_values)


@dataclasses.dataclass(frozen=True)
class DriftSpec:
    """Drift and skew thresholds (see "Drift" in the module docstring); `features` empty: every
    dense, sparse and multi_value feature."""
    categorical_linf: float = 0.3
    numeric_js: float = 0.6
    skew_categorical_linf: Optional[float] = None  # None: categorical_linf
    skew_numeric_js: Optional[float] = None  # None: numeric_js
    features: tuple = ()

    def threshold(self, comparator: str, skew: bool = False) -> float:
        """The threshold of `comparator` ('categorical_linf' or 'numeric_js') for drift, or for
        skew with `skew`."""
        own = getattr(self, f"skew_{comparator}") if skew else None
        return getattr(self, comparator) if own is None else own


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    labels: List[LabelSpec]
    dense: List[DenseSpec]
    sparse: List[SparseSpec]
    multi_value: List[MultiValueSpec]
    evaluation: EvaluationSpec
    format: str = "csv"
    # (split, share) of the hash or time-order split (SPLIT_NAMES order); for `values` and
    # `files` splits, which have no shares, the default shares (an estimate for training-step
    # defaults only)
    split: tuple = DEFAULT_SPLIT
    split_by: Optional[str] = None  # the column a hash, time or values split reads
    split_order: str = "hash"  # hash | time | values | files (SPLIT_ORDERS)
    split_values: Optional[tuple] = None  # ((split, (value, ...)), ...) for split_order values
    split_files: Optional[tuple] = None  # ((split, pattern), ...) for split_order files
    sample: Optional[str] = None  # bundled sample file under data/samples (the default data)
    # CSV without a header line: its column names, in order; parquet: the columns read
    columns: Optional[tuple] = None
    behaviour: Optional[BehaviourSpec] = None  # event log -> behaviour sequences
    drift: DriftSpec = DriftSpec()  # retrain's drift gate and the train/test skew
    source: str = "<dict>"

    # -- derived views ---------------------------------------------------------------------
    @property
    def task(self):
        return self.labels[0].task

    @property
    def label_names(self):
        return [label.name for label in self.labels]

    def gate(self, label):
        """The blessing thresholds of `label`: its own keys, else the spec's `evaluation`."""
        own = {k: getattr(label, k) for k in GATE_KEYS}
        return dataclasses.replace(self.evaluation,
                                   **{k: v for k, v in own.items() if v is not None})

    @property
    def raw_columns(self):
        """Raw input columns the spec reads (label columns first)."""
        cols = [label.column for label in self.labels]
        cols += [f.name for f in self.dense] + [f.name for f in self.sparse]
        cols += [f.name for f in self.multi_value]
        if self.behaviour is not None:  # the log's columns: generated histories are not read
            b = self.behaviour
            generated = set(b.generated_names())
            cols = [c for c in cols if c not in generated]
            cols += [b.user, b.time] + ([b.positive] if b.positive else [])
        if self.split_by is not None:  # the split reads it (it need not be a feature)
            cols.append(self.split_by)
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


def _unknown(unknown, allowed):
    """'unknown keys [...] (did you mean ...?); allowed: [...]' with difflib's closest names."""
    close = {k: difflib.get_close_matches(str(k), sorted(allowed), n=1, cutoff=0.6)
             for k in unknown}
    hints = [f"{c[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "")
             for k, c in close.items() if c]
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    return f"unknown keys {unknown}{hint}; allowed: {sorted(allowed)}"


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
        raise _err(source, f"{section}.{entry.get('name')}", _unknown(unknown, allowed))
    try:
        return cls(**merged)
    except TypeError as e:
        raise _err(source, f"{section}.{entry.get('name')}", str(e)) from None


def _checked_name(name, source):
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name) or ".." in name:
        raise _err(source, "name", f"must be a plain folder name (letters, digits, '_', '.', "
                                   f"'-'; starting with a letter or digit; no '..'; at most 64 "
                                   f"characters), got {name!r}")
    return name


def _parse(raw, source):
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping")
    known = {"name", "description", "format", "sample", "labels", "dense_defaults", "dense",
             "sparse_defaults", "sparse", "multi_value_defaults", "multi_value", "slices",
             "evaluation", "split", "columns", "behaviour", "drift"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _err(source, "<top level>", _unknown(unknown, known))
    if raw.get("name") or source != "<dict>":
        name = _checked_name(raw.get("name") or os.path.splitext(os.path.basename(source))[0],
                             source)
    else:  # built in code without a name or a file: "<dict>", as before, never a user's path
        name = source
    labels = [_build(LabelSpec, _as_entry(x, source, "labels"), {}, source, "labels")
              for x in raw.get("labels") or []]
    if not labels:
        raise _err(source, "labels", "at least one label is required")
    labels = [_checked_label(label, source) for label in labels]
    dense = [_build(DenseSpec, _as_entry(x, source, "dense"), raw.get("dense_defaults") or {},
                    source, "dense") for x in raw.get("dense") or []]
    sparse = [_build(SparseSpec, _as_entry(x, source, "sparse"), raw.get("sparse_defaults") or {},
                     source, "sparse") for x in raw.get("sparse") or []]
    multi = [_build(MultiValueSpec, _as_entry(x, source, "multi_value"),
                    {**_categorical_defaults(raw.get("sparse_defaults")),
                     **(raw.get("multi_value_defaults") or {})}, source, "multi_value")
             for x in raw.get("multi_value") or []]
    behaviour, multi = _behaviour_features(raw.get("behaviour"), sparse, multi, source)
    evaluation_raw = dict(raw.get("evaluation") or {})
    slices, slice_limits = _slices(raw.get("slices") or [], source)
    evaluation = EvaluationSpec(**_checked_keys(evaluation_raw, EvaluationSpec, source,
                                                "evaluation"), slices=slices,
                                slice_limits=slice_limits)
    split = _split(raw.get("split"), source)
    columns = raw.get("columns")
    if columns is not None:
        if (not isinstance(columns, list) or not columns
                or not all(isinstance(c, str) and c for c in columns)):
            raise _err(source, "columns", f"must be a list of column names, got {columns!r}")
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise _err(source, "columns", f"duplicate names {dupes}")
        columns = tuple(columns)
    spec = DatasetSpec(name=name, labels=labels, dense=dense, sparse=sparse, multi_value=multi,
                       evaluation=evaluation, format=raw.get("format", "csv"),
                       **split,
                       sample=raw.get("sample"), columns=columns, behaviour=behaviour,
                       drift=_drift(raw.get("drift"), source), source=source)
    _validate(spec)
    return spec


def _split(raw, source):
    """The `split` section -> DatasetSpec's split fields (see "Splits" in the module docstring)."""
    if raw is None:
        return {"split": DEFAULT_SPLIT}
    if not isinstance(raw, dict):
        raise _err(source, "split", f"must be a mapping, got {raw!r}")
    raw = dict(raw)
    by, order = raw.pop("by", None), raw.pop("order", None)
    values, files = raw.pop("values", None), raw.pop("files", None)
    if by is not None and not (isinstance(by, str) and by):
        raise _err(source, "split.by", f"must name a column, got {by!r}")
    if files is not None:
        if by is not None or values is not None or order not in (None, "files") or raw:
            raise _err(source, "split", "files: takes no shares, `by` or `values`")
        return {"split": DEFAULT_SPLIT, "split_order": "files",
                "split_files": _per_split(files, source, "split.files", _pattern)}
    if values is not None:
        if by is None or order not in (None, "values") or raw:
            raise _err(source, "split", "values: needs `by: <column>` and takes no shares")
        per_split = _per_split(values, source, "split.values", _value_list)
        seen = {}
        for name, split_values in per_split:
            for value in split_values:
                if value in seen:
                    raise _err(source, "split.values", f"{value!r} is in both {seen[value]} "
                                                       f"and {name}")
                seen[value] = name
        return {"split": DEFAULT_SPLIT, "split_by": by, "split_order": "values",
                "split_values": per_split}
    order = order or "hash"
    if order not in ("hash", "time"):
        raise _err(source, "split.order", f"must be hash or time (or give values: or files:), "
                                          f"got {order!r}")
    if order == "time" and by is None:
        raise _err(source, "split", "order: time needs `by: <time column>`")
    if set(raw) == {"train", "eval"}:  # the old two-way format: validation carved from train
        _check_shares(raw, source)
        shares = ((TRAIN_SPLIT, 9 * raw["train"]), (VALIDATION_SPLIT, raw["train"]),
                  (TEST_SPLIT, 10 * raw["eval"]))
    elif set(raw) == set(SPLIT_NAMES):
        _check_shares(raw, source)
        shares = tuple((name, raw[name]) for name in SPLIT_NAMES)
    else:
        raise _err(source, "split", f"must map {', '.join(SPLIT_NAMES)} to positive ints (or "
                                    f"train and eval, the two-way format), got {raw!r}")
    return {"split": shares, "split_by": by, "split_order": order}


def _drift(raw, source):
    """The `drift` section -> DriftSpec (see "Drift" in the module docstring)."""
    if raw is None:
        return DriftSpec()
    if not isinstance(raw, dict):
        raise _err(source, "drift", f"must be a mapping, got {raw!r}")
    raw = dict(raw)
    allowed = {f.name for f in dataclasses.fields(DriftSpec)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _err(source, "drift", _unknown(unknown, allowed))
    for key in sorted(allowed - {"features"}):
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise _err(source, f"drift.{key}", f"must be a number > 0, got {value!r}")
        raw[key] = float(value)
    features = raw.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
        raise _err(source, "drift.features", f"must be a list of feature names, got "
                                             f"{features!r}")
    raw["features"] = tuple(features)
    return DriftSpec(**raw)


def _check_shares(shares, source):
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
               for v in shares.values()):
        raise _err(source, "split", f"shares must be positive ints, got {shares!r}")


def _per_split(raw, source, field, parse):
    """{train: x, validation: y, test: z} -> ((split, parse(x)), ...) in SPLIT_NAMES order."""
    if not isinstance(raw, dict) or set(raw) != set(SPLIT_NAMES):
        raise _err(source, field, f"must map exactly {', '.join(SPLIT_NAMES)}, got {raw!r}")
    return tuple((name, parse(raw[name], source, f"{field}.{name}")) for name in SPLIT_NAMES)


def _pattern(raw, source, field):
    if not isinstance(raw, str) or not raw or os.path.isabs(raw) or ".." in raw.split("/"):
        raise _err(source, field, f"must be a file pattern relative to the data, got {raw!r}")
    return raw


def _value_list(raw, source, field):
    raw = raw if isinstance(raw, list) else [raw]
    if not raw or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in raw):
        raise _err(source, field, f"must be a value or a list of values (text or int), got "
                                  f"{raw!r}")
    return tuple(str(v) for v in raw)


def _behaviour_features(raw, sparse, multi, source):
    """Parses the `behaviour` section; returns (BehaviourSpec or None, multi-value features with
    the generated history columns appended). A history column declared by hand under
    multi_value is kept when it agrees with the section (vocab_of, keep: last, max_length)."""
    if raw is None:
        return None, multi
    section = "behaviour"
    if not isinstance(raw, dict):
        raise _err(source, section, f"must be a mapping, got {raw!r}")
    raw = dict(raw)
    attributes = raw.get("attributes") or []
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise _err(source, f"{section}.attributes", f"must be a list of column names, got "
                                                    f"{attributes!r}")
    raw["attributes"] = tuple(attributes)
    behaviour = _build(BehaviourSpec, raw, {}, source, section)
    b = behaviour
    for key in ("user", "item", "time"):
        if not isinstance(getattr(b, key), str) or not getattr(b, key):
            raise _err(source, f"{section}.{key}", f"must name a column, got {getattr(b, key)!r}")
    for key in ("max_length", "sess_max_count"):
        value = getattr(b, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _err(source, f"{section}.{key}", f"must be an int >= 1, got {value!r}")
    if b.sess_max_length is not None and (not isinstance(b.sess_max_length, int)
                                          or b.sess_max_length < 1):
        raise _err(source, f"{section}.sess_max_length", f"must be an int >= 1, got "
                                                         f"{b.sess_max_length!r}")
    if b.negatives not in (0, 1):
        raise _err(source, f"{section}.negatives", f"must be 0 or 1 (one sampled negative per "
                                                   f"history position, as DIEN reads them), got "
                                                   f"{b.negatives!r}")
    if b.session_gap_seconds is not None and not (
            isinstance(b.session_gap_seconds, (int, float)) and b.session_gap_seconds > 0):
        raise _err(source, f"{section}.session_gap_seconds", f"must be a number > 0, got "
                                                             f"{b.session_gap_seconds!r}")
    if b.split not in ("time", "example_gen"):
        raise _err(source, f"{section}.split", f"must be time or example_gen, got {b.split!r}")
    if not isinstance(b.separator, str) or len(b.separator) != 1:
        raise _err(source, f"{section}.separator", f"must be one character, got {b.separator!r}")
    if isinstance(b.seed, bool) or not isinstance(b.seed, int) or b.seed < 0:
        raise _err(source, f"{section}.seed", f"must be an int >= 0, got {b.seed!r}")
    sparse_by_name = {f.name: f for f in sparse}
    for x in b.history_feature_list:
        owner = sparse_by_name.get(x)
        if owner is None or owner.encoding != "vocabulary":
            raise _err(source, f"{section}", f"{x!r} (item/attribute) must be a sparse feature "
                                             f"with encoding: vocabulary, so that its history "
                                             f"shares its ids and embeddings")
    if len(set(b.history_feature_list)) != len(b.history_feature_list):
        raise _err(source, f"{section}.attributes", f"repeat the item or each other: "
                                                    f"{b.history_feature_list}")
    declared = {f.name: f for f in multi}
    out = list(multi)
    for name, owner_name, length in b.generated():
        owner = sparse_by_name[owner_name]
        if name in declared:
            f = declared[name]
            if (f.vocab_of, f.keep, f.max_length, f.separator) != (owner_name, "last", length,
                                                                   b.separator):
                raise _err(source, f"multi_value.{name}", f"is generated by the behaviour "
                           f"section: it needs vocab_of: {owner_name}, keep: last, max_length: "
                           f"{length}, separator: {b.separator!r} (or leave it out)")
            continue
        out.append(MultiValueSpec(name=name, encoding="vocabulary",
                                  frequency_threshold=owner.frequency_threshold,
                                  top_k=owner.top_k, embedding_dim=owner.embedding_dim,
                                  embedding_init_std=owner.embedding_init_std,
                                  group=owner.group, vocab_group=owner.vocab_group,
                                  separator=b.separator, max_length=length, combiner="mean",
                                  vocab_of=owner_name, keep="last"))
    return behaviour, out


def _checked_label(label, source):
    """Validates one label's keys; returns it with its mapping keys stripped and numbers as
    floats."""
    field = f"labels.{label.name}"
    if label.task not in TASKS:
        raise _err(source, field, f"task must be one of {TASKS}, got {label.task!r}")
    if label.binary_threshold is not None and label.task != "binary":
        raise _err(source, field, "binary_threshold only applies to task: binary")
    wrong_gate = REGRESSION_GATE_KEYS if label.task == "binary" else BINARY_GATE_KEYS
    for key in wrong_gate:
        if getattr(label, key) is not None:
            raise _err(source, f"{field}.{key}", f"does not apply to task: {label.task}")
    for key in GATE_KEYS + ("loss_weight", "unmapped"):
        value = getattr(label, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _err(source, f"{field}.{key}", f"must be a number, got {value!r}")
    if not label.loss_weight >= 0:
        raise _err(source, f"{field}.loss_weight", f"must be >= 0, got {label.loss_weight!r}")
    if label.mapping is None:
        if label.unmapped is not None:
            raise _err(source, f"{field}.unmapped", "only applies together with mapping")
        return label
    if label.binary_threshold is not None:
        raise _err(source, field, "give either mapping or binary_threshold, not both")
    if not isinstance(label.mapping, dict) or not label.mapping:
        raise _err(source, f"{field}.mapping", f"must map column values to numbers, got "
                                               f"{label.mapping!r}")
    mapping = {}
    for key, value in label.mapping.items():
        text = str(key).strip()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(source, f"{field}.mapping", f"value of {key!r} must be a number, got "
                                                   f"{value!r}")
        if text in mapping:
            raise _err(source, f"{field}.mapping", f"{key!r} repeats {text!r} once whitespace "
                                                   "is stripped")
        mapping[text] = float(value)
    targets = set(mapping.values()) | ({float(label.unmapped)} if label.unmapped is not None
                                       else set())
    if label.task == "binary" and not targets <= {0.0, 1.0}:
        raise _err(source, f"{field}.mapping", f"a binary label maps to 0 or 1, got "
                                               f"{sorted(targets)}")
    return dataclasses.replace(label, mapping=mapping, unmapped=None if label.unmapped is None
                               else float(label.unmapped))


def _categorical_defaults(sparse_defaults):
    """sparse_defaults also apply to multi-value features (where the key exists there)."""
    allowed = {f.name for f in dataclasses.fields(MultiValueSpec)}
    return {k: v for k, v in (sparse_defaults or {}).items() if k in allowed}


def _slices(entries, source):
    """`slices:` entries (a name, or {name, top_values}) -> (names, ((name, top_values), ...))."""
    names, limits = [], []
    for entry in entries:
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "top_values"})
            if unknown or "name" not in entry:
                raise _err(source, "slices", f"an entry is a feature name or {{name, top_values}},"
                                             f" got {entry!r}")
            limits.append((entry["name"], entry.get("top_values")))
            entry = entry["name"]
        names.append(entry)
    return tuple(names), tuple(limits)


def _checked_keys(raw, cls, source, section):
    allowed = {f.name for f in dataclasses.fields(cls)} - {"slices", "slice_limits"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _err(source, section, _unknown(unknown, allowed))
    return raw


def _validate(spec):
    src = spec.source
    if spec.format not in FORMATS:
        raise _err(src, "format", f"must be one of {', '.join(FORMATS)}, got {spec.format!r}")
    names = [label.name for label in spec.labels] + [f.name for f in spec.dense]
    names += [f.name for f in spec.categorical()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(src, "features", f"duplicate names {dupes}: a name may appear once across "
                                    f"labels, dense, sparse and multi_value")
    if spec.sample is not None and (not isinstance(spec.sample, str) or spec.sample in (".", "..")
                                    or os.path.basename(spec.sample) != spec.sample):
        raise _err(src, "sample", f"must be a file name in data/samples (no folders), got "
                                  f"{spec.sample!r}")
    if not spec.dense and not spec.categorical():
        raise _err(src, "features", "declare at least one dense, sparse or multi_value feature")
    by_name = {f.name: f for f in spec.categorical()}
    for f in spec.categorical():
        section = ("sparse." if isinstance(f, SparseSpec) else "multi_value.") + f.name
        if f.encoding not in ENCODINGS:
            raise _err(src, section, f"encoding must be one of {ENCODINGS}, got {f.encoding!r}")
        if f.encoding == "hash" and not (isinstance(f.hash_buckets, int) and f.hash_buckets > 1):
            raise _err(src, section, f"encoding: hash needs hash_buckets > 1, got "
                                     f"{f.hash_buckets!r}")
        if f.frequency_threshold < 1:
            raise _err(src, section, "frequency_threshold must be >= 1")
        if not isinstance(f.embedding_dim, int) or f.embedding_dim < 1:
            raise _err(src, section, f"embedding_dim must be a positive int, got {f.embedding_dim!r}")
        if f.embedding_init_std is not None and not (
                isinstance(f.embedding_init_std, (int, float)) and f.embedding_init_std > 0):
            raise _err(src, section, f"embedding_init_std must be a positive number, got "
                                     f"{f.embedding_init_std!r}")
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
        settings = {(f.frequency_threshold, f.top_k, f.embedding_init_std) for f in members}
        if len(settings) > 1:
            raise _err(src, f"vocab_group {group!r}", "features sharing a vocabulary must agree on "
                       f"frequency_threshold, top_k and embedding_init_std "
                       f"({[f.name for f in members]}); give the others their own vocab_group")
    if (spec.behaviour is not None and spec.behaviour.split == "time"
            and (spec.split_order != "hash" or spec.split_by is not None)):
        raise _err(src, "split", "behaviour.split: time splits the log by its time column "
                   "already; use a plain hash split here (or behaviour.split: example_gen)")
    feature_names = set(names) | {label.column for label in spec.labels}
    features = sorted(set(names) - {label.name for label in spec.labels})
    for name in spec.drift.features:
        if name not in features:
            close = difflib.get_close_matches(str(name), features, n=1)
            raise _err(src, "drift.features", f"{name!r} is not a declared feature"
                       + (f" (did you mean {close[0]!r}?)" if close else ""))
    for s in spec.evaluation.slices:
        if s not in feature_names:
            close = difflib.get_close_matches(str(s), sorted(feature_names), n=1)
            raise _err(src, "slices", f"{s!r} is not a declared feature"
                       + (f" (did you mean {close[0]!r}?)" if close else ""))
    limited = {f.name for f in spec.sparse if f.encoding == "vocabulary"}
    top = spec.evaluation.slice_top_values
    if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and top > 0):
        raise _err(src, "evaluation.slice_top_values",
                   f"must be a positive int or null, got {top!r}")
    for name, top in spec.evaluation.slice_limits:
        if not (isinstance(top, int) and not isinstance(top, bool) and top > 0):
            raise _err(src, f"slices.{name}", f"top_values must be a positive int, got {top!r}")
        if name not in limited:
            raise _err(src, f"slices.{name}", "top_values needs a vocabulary-encoded sparse "
                       "feature (its most frequent values come from its vocabulary)")
    if spec.columns is not None:
        if spec.format not in ("csv", "parquet"):
            raise _err(src, "columns", "only applies to format: csv (a CSV without header line) "
                                       "or parquet (the columns read)")
        unknown = [c for c in spec.raw_columns if c not in spec.columns]
        if unknown:
            raise _err(src, "columns", f"lacks {unknown}, which the spec reads")


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



def spec_without_gates(spec: DatasetSpec) -> Dict:
    """The spec as HistoryBuilder, CurateSchema, Transform and the Trainer read it
    (spec_from_config): without `evaluation`, `drift`, the per-label thresholds and the bundled
    sample's name, which only the Evaluator (through components.evaluation.eval_config), the drift
    check (components/drift.py) and the CLI use. Their parameters are part of their cache key,
    so a new threshold or slice re-runs the Evaluator and Pusher (or the drift check) only."""
    config = spec.to_dict()
    del config["evaluation"], config["sample"], config["drift"]
    for label in config["labels"]:
        for key in GATE_KEYS:
            label.pop(key)
    return config


def spec_from_config(config):
    """Rebuilds a spec from the JSON-safe dict the pipeline passes in components' custom_config."""
    raw = copy.deepcopy(config)
    source = raw.pop("source", "<custom_config>")
    labels = [LabelSpec(**x) for x in raw.pop("labels")]
    dense = [DenseSpec(**x) for x in raw.pop("dense")]
    sparse = [SparseSpec(**x) for x in raw.pop("sparse")]
    multi = [MultiValueSpec(**x) for x in raw.pop("multi_value")]
    ev = raw.pop("evaluation", {})  # absent in the components' copy (spec_without_gates)
    drift = raw.pop("drift", None)  # absent there too
    raw["drift"] = (DriftSpec() if drift is None else
                    DriftSpec(**{**drift, "features": tuple(drift.get("features", ()))}))
    evaluation = EvaluationSpec(**{**ev, "slices": tuple(ev.get("slices", ())),
                                   "slice_limits": tuple(tuple(x) for x in
                                                         ev.get("slice_limits", ()))})
    split = tuple(tuple(x) for x in raw.pop("split"))
    for key in ("split_values", "split_files"):  # JSON lists back to the parsed tuples
        if raw.get(key) is not None:
            raw[key] = tuple((name, tuple(v) if isinstance(v, list) else v)
                             for name, v in raw[key])
    columns = raw.pop("columns", None)
    behaviour = raw.pop("behaviour", None)
    if behaviour is not None:
        behaviour = BehaviourSpec(**{**behaviour, "attributes": tuple(behaviour["attributes"])})
    raw["behaviour"] = behaviour
    return DatasetSpec(labels=labels, dense=dense, sparse=sparse, multi_value=multi,
                       evaluation=evaluation, split=split, source=source,
                       columns=tuple(columns) if columns is not None else None, **raw)
