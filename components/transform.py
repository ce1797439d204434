"""tf.Transform preprocessing_fn driven by the dataset spec.

Analysis is fused so its cost does not grow with the number of features: one `tft.vocabulary`
per vocab_group over field-qualified tokens ("C1=05db9164") of all its features, and one
elementwise `tft.scale_to_0_1` over the stacked dense features. The id layout (padding, per-feature
OOV ids, vocabulary ids) is documented in components/dataset_spec.py. The same graph runs at
serving time inside the exported model, so training and serving cannot drift apart.
"""

import tensorflow as tf
import tensorflow_transform as tft

from ctr_models.hashing import hash_bucket_ids
from components.dataset_spec import MultiValueSpec, spec_from_config


def vocabulary_name(group):
    return f"vocab_{group}"


def _first_value(x, default):
    """Any raw column (Tensor [B] or [B, 1], SparseTensor/RaggedTensor with <= 1 value per row)
    -> Tensor [B]; rows without a value get `default`."""
    if isinstance(x, tf.RaggedTensor):
        x = x.to_sparse()
    if isinstance(x, tf.SparseTensor):
        x = tft.sparse_tensor_to_dense_with_shape(x, [None, 1], default_value=default)
    if x.shape.rank == 2:
        x = x[:, 0]
    return x


def _as_strings(x):
    if x.dtype == tf.string:
        return x
    if x.dtype.is_floating:
        return tf.strings.as_string(x, shortest=True)
    return tf.strings.as_string(x)


def _sparse_as_strings(x):
    """A raw column's values as text, before a missing value is filled: a numeric column filled
    with 0 first would make a missing cell the token of the value 0 (one embedding row for both)."""
    if isinstance(x, tf.RaggedTensor):
        x = x.to_sparse()
    if isinstance(x, tf.SparseTensor) and x.dtype != tf.string:
        x = tf.SparseTensor(x.indices, _as_strings(x.values), x.dense_shape)
    return x


def _raw_strings(inputs, name):
    """Raw categorical column -> string Tensor [B]; a missing value is '' whatever the column's
    type (also for numeric columns: never the text of 0)."""
    return _as_strings(_first_value(_sparse_as_strings(inputs[name]), ""))


def _raw_float(inputs, name, fill_value):
    """Raw numeric column -> float32 [B]; missing and NaN -> fill_value."""
    x = _float_columns(inputs, [name])[:, 0]
    return tf.where(tf.math.is_nan(x), tf.fill(tf.shape(x), float(fill_value)), x)


def _columns(inputs, names, to_column):
    """Several raw single-valued columns -> one Tensor [B, len(names)].

    Tracing cost, not run time, decides this shape: Transform traces the preprocessing_fn
    several times and every traced op costs Python time there, so a missing value is filled by
    one SparseToDense per column into a [B, 1] shape built once, and the columns are joined by
    one concat (no per-column slicing). `to_column(x, batch_shape)` turns one SparseTensor or
    dense Tensor into [B, 1]."""
    batch_shape = None
    columns = []
    for name in names:
        x = inputs[name]
        if isinstance(x, tf.RaggedTensor):
            x = x.to_sparse()
        if isinstance(x, tf.SparseTensor) and batch_shape is None:
            batch_shape = tf.stack([x.dense_shape[0], tf.constant(1, tf.int64)])
        if not isinstance(x, tf.SparseTensor) and x.shape.rank == 1:
            x = x[:, tf.newaxis]
        columns.append(to_column(x, batch_shape))
    return columns[0] if len(columns) == 1 else tf.concat(columns, axis=1)


def _sparse_to_column(x, batch_shape, default):
    """SparseTensor [B, None] with <= 1 value per row -> Tensor [B, 1], `default` where empty."""
    dense = tf.raw_ops.SparseToDense(sparse_indices=x.indices, output_shape=batch_shape,
                                     sparse_values=x.values, default_value=default)
    dense.set_shape([None, 1])
    return dense


def _float_columns(inputs, names):
    """Raw numeric columns -> float32 [B, len(names)]; a missing value is NaN."""
    nan = tf.constant(float("nan"), tf.float32)

    def to_column(x, batch_shape):
        if isinstance(x, tf.SparseTensor):
            values = x.values if x.dtype == tf.float32 else tf.cast(x.values, tf.float32)
            return _sparse_to_column(tf.SparseTensor(x.indices, values, x.dense_shape),
                                     batch_shape, nan)
        return tf.cast(x[:, :1], tf.float32)

    return _columns(inputs, names, to_column)


def _string_columns(inputs, names):
    """Raw categorical columns -> string [B, len(names)], each value as `_raw_strings` gives it
    (a missing value is '', for numeric columns too)."""
    missing = tf.constant("")

    def to_column(x, batch_shape):
        if isinstance(x, tf.SparseTensor):
            return _sparse_to_column(_sparse_as_strings(x), batch_shape, missing)
        return _as_strings(x[:, :1])

    return _columns(inputs, names, to_column)


# How a missing categorical cell is encoded (`_raw_strings`): its own id. The Trainer writes it in
# the training summary, so a model version says which rule its inputs followed (before
# 2026-12-07 an integer column's missing cell was read as the value 0).
MISSING_CATEGORY = "own_id"

# Dense values are clipped to +-DENSE_LIMIT, so that max - min and the scaling stay finite in
# float32 (one 3e38 would otherwise make every scaled value 0 or NaN).
DENSE_LIMIT = 1e18


def _dense_matrix(inputs, features):
    """The dense features as float32 [B, n], with the documented mapping of odd values, the same
    in training and serving: missing, NaN and ±inf -> the feature's fill_value (a value beyond
    float32's range, e.g. 1e300, reaches Transform as ±inf); finite values clipped to
    [-DENSE_LIMIT, DENSE_LIMIT]."""
    x = _float_columns(inputs, [f.name for f in features])
    fill = tf.constant([[float(f.fill_value) for f in features]], tf.float32)
    x = tf.where(tf.math.is_finite(x), x, fill)
    return tf.clip_by_value(x, -DENSE_LIMIT, DENSE_LIMIT)


def _values(inputs, feature):
    """The values of a feature as a string RaggedTensor [B, None] (empty values dropped)."""
    raw = _raw_strings(inputs, feature.name)
    if isinstance(feature, MultiValueSpec):
        values = tf.strings.split(raw, sep=feature.separator)
        return tf.ragged.boolean_mask(values, tf.not_equal(values, ""))
    return tf.RaggedTensor.from_tensor(tf.expand_dims(raw, 1))


def _fixed_width(ids, feature):
    """Ragged ids -> [B, max_length] int64, 0-padded, keeping the first or last values."""
    width = feature.max_length
    ids = ids[:, -width:] if feature.keep == "last" else ids[:, :width]
    return ids.to_tensor(default_value=0, shape=[None, width])


def _finish(ids, feature):
    if isinstance(feature, MultiValueSpec):
        return _fixed_width(ids, feature)
    return ids.to_tensor(default_value=0, shape=[None, 1])


def preprocessing_fn(inputs, custom_config):
    spec = spec_from_config(custom_config["spec"])
    outputs = {}

    for label in spec.labels:
        if label.mapping is not None:
            y = _mapped_label(inputs, label)
        else:
            y = _raw_float(inputs, label.column, float("nan"))
        if label.binary_threshold is not None:
            y = tf.cast(y >= label.binary_threshold, tf.float32)
        outputs[label.name] = tf.expand_dims(y, 1)

    if spec.dense:
        stacked = _dense_matrix(inputs, spec.dense)
        log_mask = tf.constant([f.log for f in spec.dense])
        logged = tf.sign(stacked) * tf.math.log1p(tf.abs(stacked))
        stacked = tf.where(log_mask[tf.newaxis, :], logged, stacked)
        scaled = tf.clip_by_value(tft.scale_to_0_1(stacked, elementwise=True), 0.0, 1.0)
        outputs.update(zip([f.name for f in spec.dense],
                           tf.split(scaled, len(spec.dense), axis=1)))

    for group, members in spec.vocab_groups().items():
        # Single-valued members are looked up together as one [B, n] matrix: one lookup table
        # instead of one per feature keeps the graph that Transform traces and saves, and that
        # the exported model serves, small (tracing it was most of Transform's time).
        single = [f for f in members if not isinstance(f, MultiValueSpec)]
        multi = [f for f in members if isinstance(f, MultiValueSpec)]
        single_tokens = _single_tokens(inputs, single, spec) if single else None
        tokens = {f.name: _tokens(inputs, f, spec) for f in multi}
        if multi:
            all_tokens = ([tf.RaggedTensor.from_tensor(single_tokens)] if single else []) + list(
                tokens.values())
            analyzed = tf.concat(all_tokens, axis=1) if len(all_tokens) > 1 else all_tokens[0]
        else:
            analyzed = single_tokens  # the same tokens, without a ragged copy
        first = members[0]
        vocab = tft.vocabulary(analyzed,
                               frequency_threshold=first.frequency_threshold, top_k=first.top_k,
                               vocab_filename=vocabulary_name(group))
        oov_ids = {f.name: 1 + i for i, f in enumerate(members)}
        first_token_id = 1 + len(members)

        def to_ids(looked_up, oov):
            return tf.where(looked_up >= 0, looked_up + first_token_id,
                            tf.cast(oov, looked_up.dtype))

        if single:
            ids = to_ids(tft.apply_vocabulary(single_tokens, vocab, default_value=-1),
                         tf.constant([[oov_ids[f.name] for f in single]]))
            outputs.update(zip([f.name for f in single], tf.split(ids, len(single), axis=1)))
        borrowers = [f for f in spec.multi_value if f.vocab_of in oov_ids]
        for f in multi + borrowers:
            toks = tokens[f.name] if f.name in tokens else _tokens(inputs, f, spec)
            oov_id = oov_ids[getattr(f, "vocab_of", None) or f.name]
            looked_up = tft.apply_vocabulary(toks, vocab, default_value=-1)
            outputs[f.name] = _finish(
                tf.ragged.map_flat_values(lambda v, oov=oov_id: to_ids(v, oov), looked_up), f)

    for f in spec.categorical():
        if f.encoding == "hash":
            # a missing value ('') is the padding id 0; the value 0 is hashed like any other
            ids = hash_bucket_ids(_values(inputs, f), f.hash_buckets, mask_zero=True,
                                  zero_is_padding=False)
            outputs[f.name] = _finish(ids, f)
    return outputs


def _mapped_label(inputs, label):
    """The label's `mapping` applied to its column's text (whitespace stripped) -> float32 [B].
    A value outside the mapping becomes `unmapped`; without `unmapped`, a present value outside
    the mapping fails the run and a missing one is NaN, like a missing numeric label (serving
    requests carry no label columns, so their label outputs are NaN and never fail)."""
    text = tf.strings.strip(_raw_strings(inputs, label.column))
    keys = tf.constant(list(label.mapping), tf.string)
    values = tf.constant(list(label.mapping.values()), tf.float32)
    matches = tf.equal(text[:, tf.newaxis], keys[tf.newaxis, :])  # [B, keys]
    found = tf.reduce_any(matches, axis=1)
    y = tf.reduce_sum(tf.where(matches, values[tf.newaxis, :], 0.0), axis=1)
    if label.unmapped is not None:
        return tf.where(found, y, label.unmapped)
    outside = tf.logical_and(tf.not_equal(text, ""), tf.logical_not(found))
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(outside)),
        [f"label {label.name!r}: column {label.column!r} has a value outside its mapping "
         f"{sorted(label.mapping)} (set `unmapped` in the spec to accept it):",
         tf.boolean_mask(text, outside)[:1]])
    with tf.control_dependencies([check]):
        return tf.where(found, y, float("nan"))


def _single_tokens(inputs, features, spec):
    """'<field>=<value>' tokens of single-valued features, string Tensor [B, len(features)]; a
    missing value is the token '<field>=' (like `_tokens`)."""
    prefixes = tf.constant([[spec.token_prefix(f) for f in features]])
    values = _string_columns(inputs, [f.name for f in features])
    return tf.strings.join([tf.broadcast_to(prefixes, tf.shape(values)), values])


def _tokens(inputs, feature, spec):
    """'<field>=<value>' tokens, RaggedTensor [B, None]."""
    prefix = spec.token_prefix(feature)
    return tf.ragged.map_flat_values(lambda v: tf.strings.join([prefix, v]),
                                     _values(inputs, feature))
