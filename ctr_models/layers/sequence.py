"""Sequence layers: pooling of variable-length id lists and behaviour sequences, and the
attention/recurrent blocks of the behaviour-sequence models (Transformer, BiLSTM, encodings)."""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from .core import LocalActivationUnit  # DeepCTR also exports the unit from here
from .normalization import LayerNormalization
from .pooling import KMaxPooling  # noqa: F401  (DeepCTR exports it from layers.sequence)
from .recurrent import DynamicGRU  # noqa: F401  (DeepCTR exports it from layers.sequence)

__all__ = ["SequencePoolingLayer", "WeightedSequenceLayer", "LocalActivationUnit",
           "AttentionSequencePoolingLayer", "PositionEncoding", "Transformer", "BiasEncoding",
           "BiLSTM"]


def _sequence_mask(lengths, maxlen):
    """[B, 1] int lengths -> [B, maxlen] bool mask."""
    return tf.sequence_mask(tf.reshape(lengths, (-1,)), maxlen)


class SequencePoolingLayer(keras.layers.Layer):
    """Pools a padded sequence of embeddings with 'sum', 'mean' or 'max', ignoring padding.

    supports_masking=True: input [B, L, d] carrying a Keras mask [B, L].
    supports_masking=False: input [seq [B, L, d], lengths [B, 1]].
    Output: [B, 1, d]. An all-padding row pools to zeros.
    """

    def __init__(self, mode="mean", supports_masking=False, **kwargs):
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"SequencePoolingLayer mode must be sum, mean or max, got {mode!r}")
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = supports_masking

    def call(self, inputs, mask=None):
        if self.supports_masking:
            if mask is None:
                raise ValueError("SequencePoolingLayer(supports_masking=True) got no mask: feed "
                                 "an embedding with mask_zero or use supports_masking=False")
            seq = inputs
            valid = tf.cast(mask, tf.bool)
        else:
            seq, lengths = inputs
            valid = _sequence_mask(lengths, tf.shape(seq)[1])
        valid = tf.expand_dims(valid, -1)  # [B, L, 1]
        weights = tf.cast(valid, seq.dtype)
        if self.mode == "max":
            masked = tf.where(valid, seq, tf.fill(tf.shape(seq), seq.dtype.min))
            pooled = tf.reduce_max(masked, axis=1, keepdims=True)
            any_valid = tf.reduce_any(valid, axis=1, keepdims=True)
            return tf.where(any_valid, pooled, tf.zeros_like(pooled))
        total = tf.reduce_sum(seq * weights, axis=1, keepdims=True)
        if self.mode == "sum":
            return total
        count = tf.reduce_sum(weights, axis=1, keepdims=True)
        return tf.math.divide_no_nan(total, count)

    def compute_output_shape(self, input_shape):
        shape = input_shape if self.supports_masking else input_shape[0]
        return (None, 1, shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode,
                "supports_masking": self.supports_masking}


class WeightedSequenceLayer(keras.layers.Layer):
    """Multiplies each sequence step by its weight (softmax-normalised over valid steps when
    `weight_normalization`); padded steps get weight 0.

    supports_masking=True: input [seq [B, L, d], weight [B, L, 1]] with the mask of seq.
    supports_masking=False: input [seq [B, L, d], lengths [B, 1], weight [B, L, 1]].
    Output: [B, L, d] (the mask of seq is passed on).
    """

    def __init__(self, weight_normalization=True, supports_masking=False, **kwargs):
        super().__init__(**kwargs)
        self.weight_normalization = weight_normalization
        self.supports_masking = supports_masking

    def call(self, inputs, mask=None):
        if self.supports_masking:
            seq, weight = inputs
            if mask is None or mask[0] is None:
                raise ValueError("WeightedSequenceLayer(supports_masking=True) got no mask")
            valid = tf.cast(mask[0], tf.bool)
        else:
            seq, lengths, weight = inputs
            valid = _sequence_mask(lengths, tf.shape(seq)[1])
        valid = tf.expand_dims(valid, -1)
        weight = tf.cast(weight, seq.dtype)
        if self.weight_normalization:
            weight = tf.where(valid, weight, tf.fill(tf.shape(weight), seq.dtype.min))
            weight = tf.nn.softmax(weight, axis=1)
            weight = tf.where(valid, weight, tf.zeros_like(weight))
        else:
            weight = weight * tf.cast(valid, seq.dtype)
        return seq * weight

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def compute_mask(self, inputs, mask=None):
        if self.supports_masking and mask is not None:
            return mask[0]
        return None

    def get_config(self):
        return {**super().get_config(), "weight_normalization": self.weight_normalization,
                "supports_masking": self.supports_masking}


class AttentionSequencePoolingLayer(keras.layers.Layer):
    """DIN's attention pooling: a weighted sum of the behaviour embeddings (keys), the weights
    coming from LocalActivationUnit(query, key). Padded steps get weight 0; with
    `weight_normalization` the weights are a softmax over the valid steps (so they sum to 1,
    and an all-padding row gets all zeros).

    supports_masking=False: input [query [B, 1, d], keys [B, T, d], keys_length [B, 1]].
    supports_masking=True: input [query [B, 1, d], keys [B, T, d]] with the Keras mask of keys.
    Output: [B, 1, d]; with `return_score` the weights [B, 1, T] instead.
    """

    def __init__(self, att_hidden_units=(80, 40), att_activation="sigmoid",
                 weight_normalization=False, return_score=False, supports_masking=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.att_hidden_units = tuple(att_hidden_units)
        self.att_activation = att_activation
        self.weight_normalization = weight_normalization
        self.return_score = return_score
        self.supports_masking = supports_masking

    def build(self, input_shape):
        expected = 2 if self.supports_masking else 3
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            names = "[query, keys]" if self.supports_masking else "[query, keys, keys_length]"
            raise ValueError(f"AttentionSequencePoolingLayer(supports_masking="
                             f"{self.supports_masking}) expects inputs {names}, got {input_shape}")
        self.local_att = LocalActivationUnit(self.att_hidden_units, self.att_activation,
                                             l2_reg=0, dropout_rate=0, use_bn=False, seed=1024,
                                             name="local_activation_unit")
        super().build(input_shape)

    def call(self, inputs, mask=None, training=None):
        if self.supports_masking:
            query, keys = inputs
            if mask is None or mask[1] is None:
                raise ValueError("AttentionSequencePoolingLayer(supports_masking=True) got no mask "
                                 "for keys: embed them with mask_zero or pass keys_length")
            valid = tf.cast(mask[1], tf.bool)
        else:
            query, keys, keys_length = inputs
            valid = _sequence_mask(keys_length, tf.shape(keys)[1])
        valid = tf.expand_dims(valid, 1)  # [B, 1, T]
        scores = self.local_att([query, keys], training=training)  # [B, T, 1]
        scores = tf.transpose(scores, (0, 2, 1))  # [B, 1, T]
        if self.weight_normalization:
            scores = tf.where(valid, scores, tf.fill(tf.shape(scores), scores.dtype.min))
            scores = tf.nn.softmax(scores, axis=-1)
        scores = tf.where(valid, scores, tf.zeros_like(scores))
        if self.return_score:
            return scores
        return tf.matmul(scores, keys)  # [B, 1, d]

    def compute_output_shape(self, input_shape):
        keys_shape = input_shape[1]
        if self.return_score:
            return (keys_shape[0], 1, keys_shape[1])
        return (keys_shape[0], 1, keys_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "att_hidden_units": self.att_hidden_units,
                "att_activation": self.att_activation,
                "weight_normalization": self.weight_normalization,
                "return_score": self.return_score, "supports_masking": self.supports_masking}


def _sinusoid_table(length, dim):
    """[length, dim] sinusoids of Vaswani et al. (2017): column 2i is sin(pos / 10000^(2i/dim)),
    column 2i+1 is cos of the same angle."""
    positions = np.arange(length, dtype="float64")[:, None]
    exponents = 2.0 * (np.arange(dim) // 2) / dim
    angles = positions / np.power(10000.0, exponents)[None, :]
    table = np.where(np.arange(dim)[None, :] % 2 == 0, np.sin(angles), np.cos(angles))
    return table.astype("float32")


class PositionEncoding(keras.layers.Layer):
    """Adds a sinusoidal position table to a sequence (Vaswani et al., 2017).

    table[t, 2i] = sin(t / 10000^(2i/d)), table[t, 2i+1] = cos(t / 10000^(2i/d)); with
    `zero_pad` row 0 is zeros; with `scale` the table is multiplied by sqrt(d) (DeepCTR scales
    the table, not the input). With `pos_embedding_trainable` the table is a trainable weight
    initialised to the sinusoids, otherwise a fixed one.

    Input: [B, T, d] (T and d known). Output: inputs + table[:T], same shape; the mask passes.
    """

    def __init__(self, pos_embedding_trainable=True, zero_pad=False, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.pos_embedding_trainable = pos_embedding_trainable
        self.zero_pad = zero_pad
        self.scale = scale
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"PositionEncoding expects [B, T, d] with T and d known, got "
                             f"{input_shape}")
        length, dim = int(input_shape[1]), int(input_shape[2])
        table = _sinusoid_table(length, dim)
        if self.zero_pad:
            table[0] = 0.0
        self.lookup_table = self.add_weight(
            name="lookup_table", shape=(length, dim),
            initializer=keras.initializers.Constant(table),
            trainable=self.pos_embedding_trainable)
        super().build(input_shape)

    def call(self, inputs, mask=None):
        table = self.lookup_table
        if self.scale:
            table = table * (int(inputs.shape[-1]) ** 0.5)
        return inputs + table[None, :, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "pos_embedding_trainable": self.pos_embedding_trainable,
                "zero_pad": self.zero_pad, "scale": self.scale}


ATTENTION_TYPES = ("scaled_dot_product", "cos", "ln", "additive")


class Transformer(keras.layers.Layer):
    """Multi-head attention block of Vaswani et al. (2017), as used by BST and DSIN.

    Q = queries W_Q, K = keys W_K, V = keys W_V, split into `head_num` heads of size
    `att_embedding_size` (their product must equal the input dim d). Scores per head by
    `attention_type`: 'scaled_dot_product' Q K^T / sqrt(att_embedding_size); 'cos' 20 * cosine
    of Q and K; 'ln' scaled dot product of LayerNorm(Q), LayerNorm(K); 'additive'
    v . tanh(Q + K + b). Padded keys (and, with `blinding`, the key at the query's own position)
    get weight 0 in the softmax; a query with no key left gets all-zero weights; padded queries
    get all-zero weights. Then dropout on the weights, result = weights V (+ queries with
    `use_res`) -> LayerNorm (with `use_layer_norm`) -> feed-forward relu(x W1) W2 (4d hidden, no
    biases; added to x with `use_res`, else replacing it) -> LayerNorm. `use_positional_encoding`
    first adds a trainable PositionEncoding to queries and to keys.

    supports_masking=True: input [queries [B, Tq, d], keys [B, Tk, d]] carrying Keras masks.
    supports_masking=False: input [queries, keys, query_length [B, 1], key_length [B, 1]].
    Output by `output_type`: 'mean' / 'sum' over the valid query steps -> [B, 1, d] (its mask,
    [B, 1], says whether any step was valid); None -> [B, Tq, d] carrying the query mask
    (values at padded steps are meaningless). The output mask is set on both input paths.

    Differences from DeepCTR 0.9.4: keys get their own position encoding (DeepCTR encodes the
    queries twice and uses them as keys); 'mean'/'sum' skip padded steps (DeepCTR averages over
    all maxlen steps); a row with no valid key gets zero weights (DeepCTR spreads them over the
    padding); the two LayerNorms are separate layers (DeepCTR reuses one); without `use_res`
    the feed-forward output is used (DeepCTR drops it).
    """

    def __init__(self, att_embedding_size=1, head_num=8, dropout_rate=0.0,
                 use_positional_encoding=True, use_res=True, use_feed_forward=True,
                 use_layer_norm=False, blinding=True, seed=1024, supports_masking=False,
                 attention_type="scaled_dot_product", output_type="mean", **kwargs):
        if not isinstance(head_num, int) or head_num <= 0:
            raise ValueError(f"Transformer head_num must be a positive int, got {head_num!r}")
        if not isinstance(att_embedding_size, int) or att_embedding_size <= 0:
            raise ValueError(f"Transformer att_embedding_size must be a positive int, got "
                             f"{att_embedding_size!r}")
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(f"Transformer attention_type must be one of {ATTENTION_TYPES}, got "
                             f"{attention_type!r}")
        if output_type not in ("mean", "sum", None):
            raise ValueError(f"Transformer output_type must be 'mean', 'sum' or None, got "
                             f"{output_type!r}")
        super().__init__(**kwargs)
        self.att_embedding_size = att_embedding_size
        self.head_num = head_num
        self.num_units = att_embedding_size * head_num
        self.dropout_rate = dropout_rate
        self.use_positional_encoding = use_positional_encoding
        self.use_res = use_res
        self.use_feed_forward = use_feed_forward
        self.use_layer_norm = use_layer_norm
        self.blinding = blinding
        self.seed = seed
        # inputs carry Keras masks (else lengths); Keras' own flag stays on so that the
        # output mask is computed on both paths
        self.mask_inputs = supports_masking
        self.supports_masking = True
        self.attention_type = attention_type
        self.output_type = output_type

    def build(self, input_shape):
        expected = 2 if self.mask_inputs else 4
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            names = ("[queries, keys]" if self.mask_inputs
                     else "[queries, keys, query_length, key_length]")
            raise ValueError(f"Transformer(supports_masking={self.mask_inputs}) expects "
                             f"inputs {names}, got {input_shape}")
        query_shape, key_shape = tf.TensorShape(input_shape[0]), tf.TensorShape(input_shape[1])
        if query_shape.rank != 3 or key_shape.rank != 3:
            raise ValueError(f"Transformer expects queries [B, Tq, d] and keys [B, Tk, d], got "
                             f"{query_shape} and {key_shape}")
        dim = int(query_shape[-1])
        if int(key_shape[-1]) != dim:
            raise ValueError(f"Transformer queries and keys need one dim, got {dim} and "
                             f"{key_shape[-1]}")
        if self.num_units != dim:
            raise ValueError(f"Transformer: att_embedding_size * head_num must equal the input "
                             f"dim, got {self.att_embedding_size} * {self.head_num} != {dim}")
        if self.blinding and None not in (query_shape[1], key_shape[1]) \
                and query_shape[1] != key_shape[1]:
            raise ValueError(f"Transformer blinding needs as many queries as keys, got "
                             f"{query_shape[1]} and {key_shape[1]}")

        def projection(name, offset):
            return self.add_weight(name=name, shape=(dim, self.num_units),
                                   initializer=keras.initializers.TruncatedNormal(
                                       seed=self.seed + offset))

        self.W_Query = projection("query", 0)
        self.W_key = projection("key", 1)
        self.W_Value = projection("value", 2)
        if self.attention_type == "additive":
            self.b = self.add_weight(name="b", shape=(self.att_embedding_size,),
                                     initializer=keras.initializers.GlorotUniform(seed=self.seed))
            self.v = self.add_weight(name="v", shape=(self.att_embedding_size,),
                                     initializer=keras.initializers.GlorotUniform(seed=self.seed))
        elif self.attention_type == "ln":
            self.att_ln_q = LayerNormalization(name="att_ln_q")
            self.att_ln_k = LayerNormalization(name="att_ln_k")
        if self.use_feed_forward:
            self.fw1 = self.add_weight(name="fw1", shape=(self.num_units, 4 * self.num_units),
                                       initializer=keras.initializers.GlorotUniform(seed=self.seed))
            self.fw2 = self.add_weight(name="fw2", shape=(4 * self.num_units, self.num_units),
                                       initializer=keras.initializers.GlorotUniform(seed=self.seed))
        if self.use_layer_norm:
            self.ln_attention = LayerNormalization(name="ln_attention")
            self.ln_feed_forward = LayerNormalization(name="ln_feed_forward")
        if self.use_positional_encoding:
            self.query_pe = PositionEncoding(name="query_pe")
            self.key_pe = PositionEncoding(name="key_pe")
        self.dropout = keras.layers.Dropout(self.dropout_rate, seed=self.seed)
        super().build(input_shape)

    def _masks(self, inputs, mask):
        """(query mask [B, Tq], key mask [B, Tk]) as bools."""
        queries, keys = inputs[0], inputs[1]
        if self.mask_inputs:
            masks = list(mask) if mask is not None else [None, None]
            if masks[0] is None or masks[1] is None:
                raise ValueError("Transformer(supports_masking=True) needs the Keras masks of "
                                 "queries and keys: embed them with mask_zero or pass lengths")
            return tf.cast(masks[0], tf.bool), tf.cast(masks[1], tf.bool)
        return (_sequence_mask(inputs[2], tf.shape(queries)[1]),
                _sequence_mask(inputs[3], tf.shape(keys)[1]))

    def _heads(self, x, kernel):
        """[B, T, d] -> [B, T, head_num, att_embedding_size]."""
        projected = tf.tensordot(x, kernel, axes=1)
        return tf.reshape(projected, (-1, tf.shape(x)[1], self.head_num, self.att_embedding_size))

    def _scores(self, q, k):
        """[B, head_num, Tq, Tk] attention logits."""
        if self.attention_type == "additive":
            hidden = tf.tanh(q[:, :, None] + k[:, None, :] + self.b)  # [B, Tq, Tk, h, d]
            return tf.transpose(tf.tensordot(hidden, self.v, axes=1), (0, 3, 1, 2))
        if self.attention_type == "cos":
            q, k = tf.math.l2_normalize(q, axis=-1), tf.math.l2_normalize(k, axis=-1)
            return 20.0 * tf.einsum("bqhd,bkhd->bhqk", q, k)
        if self.attention_type == "ln":
            q, k = self.att_ln_q(q), self.att_ln_k(k)
        return tf.einsum("bqhd,bkhd->bhqk", q, k) / (self.att_embedding_size ** 0.5)

    def call(self, inputs, mask=None, training=None):
        queries, keys = inputs[0], inputs[1]
        query_mask, key_mask = self._masks(inputs, mask)
        if self.use_positional_encoding:
            queries, keys = self.query_pe(queries), self.key_pe(keys)
        q = self._heads(queries, self.W_Query)
        k = self._heads(keys, self.W_key)
        v = self._heads(keys, self.W_Value)
        scores = self._scores(q, k)
        allowed = key_mask[:, None, None, :]  # [B, 1, 1, Tk]
        if self.blinding:
            not_self = tf.logical_not(tf.eye(tf.shape(scores)[2], tf.shape(scores)[3],
                                             dtype=tf.bool))
            allowed = tf.logical_and(allowed, not_self[None, None])
        allowed = tf.logical_and(allowed, query_mask[:, None, :, None])
        allowed = tf.broadcast_to(allowed, tf.shape(scores))
        scores = tf.where(allowed, scores, tf.fill(tf.shape(scores), scores.dtype.min))
        weights = tf.where(allowed, tf.nn.softmax(scores, axis=-1), tf.zeros_like(scores))
        weights = self.dropout(weights, training=training)
        result = tf.einsum("bhqk,bkhd->bqhd", weights, v)
        result = tf.reshape(result, (-1, tf.shape(queries)[1], self.num_units))
        if self.use_res:
            result += queries
        if self.use_layer_norm:
            result = self.ln_attention(result)
        if self.use_feed_forward:
            hidden = tf.nn.relu(tf.tensordot(result, self.fw1, axes=1))
            hidden = self.dropout(hidden, training=training)
            transformed = tf.tensordot(hidden, self.fw2, axes=1)
            result = result + transformed if self.use_res else transformed
            if self.use_layer_norm:
                result = self.ln_feed_forward(result)
        if self.output_type is None:
            return result
        valid = tf.cast(query_mask, result.dtype)[:, :, None]
        total = tf.reduce_sum(result * valid, axis=1, keepdims=True)
        if self.output_type == "sum":
            return total
        return tf.math.divide_no_nan(total, tf.reduce_sum(valid, axis=1, keepdims=True))

    def compute_output_shape(self, input_shape):
        query_shape = tf.TensorShape(input_shape[0])
        if self.output_type is None:
            return (query_shape[0], query_shape[1], self.num_units)
        return (query_shape[0], 1, self.num_units)

    def compute_mask(self, inputs, mask=None):
        if self.mask_inputs:
            if mask is None or mask[0] is None:
                return None
            query_mask = tf.cast(mask[0], tf.bool)
        else:
            query_mask = _sequence_mask(inputs[2], tf.shape(inputs[0])[1])
        if self.output_type is None:
            return query_mask
        return tf.reduce_any(query_mask, axis=1, keepdims=True)

    def get_config(self):
        return {**super().get_config(), "att_embedding_size": self.att_embedding_size,
                "head_num": self.head_num, "dropout_rate": self.dropout_rate,
                "use_positional_encoding": self.use_positional_encoding,
                "use_res": self.use_res, "use_feed_forward": self.use_feed_forward,
                "use_layer_norm": self.use_layer_norm, "blinding": self.blinding,
                "seed": self.seed, "supports_masking": self.mask_inputs,
                "attention_type": self.attention_type, "output_type": self.output_type}


class BiasEncoding(keras.layers.Layer):
    """DSIN's bias encoding (Feng et al., 2019): BE[k, t, c] = w_sess[k] + w_pos[t] + w_unit[c]
    is added to step t, unit c of session k. All three are trainable, initialised from
    TruncatedNormal(0, 1e-4, seed).

    Input: list of `sess_max_count` tensors [B, T, d] (one shape; a single tensor when
    sess_max_count is 1). Output: the same structure and shapes; masks pass through.
    """

    def __init__(self, sess_max_count, seed=1024, **kwargs):
        if not isinstance(sess_max_count, int) or sess_max_count <= 0:
            raise ValueError(f"BiasEncoding sess_max_count must be a positive int, got "
                             f"{sess_max_count!r}")
        super().__init__(**kwargs)
        self.sess_max_count = sess_max_count
        self.seed = seed
        self.supports_masking = True

    def _as_list(self, value):
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def build(self, input_shape):
        single = isinstance(input_shape, tf.TensorShape) or not isinstance(
            input_shape[0], (list, tuple, tf.TensorShape))
        shapes = [tf.TensorShape(s) for s in ([input_shape] if single else input_shape)]
        if len(shapes) != self.sess_max_count:
            raise ValueError(f"BiasEncoding(sess_max_count={self.sess_max_count}) got "
                             f"{len(shapes)} session inputs")
        if any(s.rank != 3 or s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(f"BiasEncoding expects sessions [B, T, d] of one shape, got "
                             f"{[str(s) for s in shapes]}")
        length, dim = int(shapes[0][1]), int(shapes[0][2])

        def bias(name, shape):
            return self.add_weight(name=name, shape=shape,
                                   initializer=keras.initializers.TruncatedNormal(
                                       mean=0.0, stddev=1e-4, seed=self.seed))

        self.sess_bias_embedding = bias("sess_bias_embedding", (self.sess_max_count, 1, 1))
        self.seq_bias_embedding = bias("seq_bias_embedding", (1, length, 1))
        self.item_bias_embedding = bias("item_bias_embedding", (1, 1, dim))
        super().build(input_shape)

    def call(self, inputs, mask=None):
        sessions = self._as_list(inputs)
        encoded = [x + self.item_bias_embedding + self.seq_bias_embedding
                   + self.sess_bias_embedding[k] for k, x in enumerate(sessions)]
        return encoded if isinstance(inputs, (list, tuple)) else encoded[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "sess_max_count": self.sess_max_count,
                "seed": self.seed}


BILSTM_MERGE_MODES = ("fw", "bw", "sum", "mul", "ave", "concat", None)


class BiLSTM(keras.layers.Layer):
    """Two stacks of `layers` LSTMs over a sequence, one forward and one backward (each stack
    feeds only itself, as in DeepCTR); the last `res_layers` layers of each stack add their
    input to their output (needs units == d). LSTMs use `dropout_rate` on their inputs and unit
    forget/input biases ('ones', as DeepCTR). The two directions are merged by `merge_mode`:
    'fw', 'bw', 'sum', 'mul', 'ave', 'concat', or None (both returned).

    Input: [B, T, d], optionally carrying a Keras mask [B, T]: masked steps are skipped by both
    directions (the backward pass starts at the last valid step) and output zeros.
    Output: [B, T, units] ([B, T, 2 * units] for 'concat'; [fw, bw] for None), with the mask.
    Differences from DeepCTR 0.9.4: the mask is honoured (DeepCTR runs over padding too).
    """

    def __init__(self, units, layers=2, res_layers=0, dropout_rate=0.2, merge_mode="ave",
                 **kwargs):
        if merge_mode not in BILSTM_MERGE_MODES:
            raise ValueError(f"BiLSTM merge_mode must be one of {BILSTM_MERGE_MODES}, got "
                             f"{merge_mode!r}")
        if not isinstance(layers, int) or layers <= 0:
            raise ValueError(f"BiLSTM layers must be a positive int, got {layers!r}")
        super().__init__(**kwargs)
        self.units = units
        self.layers = layers
        self.res_layers = res_layers
        self.dropout_rate = dropout_rate
        self.merge_mode = merge_mode
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3:
            raise ValueError(f"BiLSTM expects [B, T, d], got {input_shape}")
        first_res = self.layers - self.res_layers
        if self.res_layers > 0 and int(input_shape[-1]) != self.units and first_res <= 0:
            raise ValueError(f"BiLSTM residual layers need units == input dim, got units="
                             f"{self.units} and dim {input_shape[-1]}")
        unroll = input_shape[1] is not None

        def lstm(direction, i):
            return keras.layers.LSTM(self.units, dropout=self.dropout_rate,
                                     bias_initializer="ones", return_sequences=True,
                                     go_backwards=direction == "bw", unroll=unroll,
                                     name=f"{direction}_lstm_{i}")

        self.fw_lstm = [lstm("fw", i) for i in range(self.layers)]
        self.bw_lstm = [lstm("bw", i) for i in range(self.layers)]
        super().build(input_shape)

    def call(self, inputs, mask=None, training=None):
        fw, bw = inputs, inputs
        for i in range(self.layers):
            out_fw = self.fw_lstm[i](fw, mask=mask, training=training)
            out_bw = tf.reverse(self.bw_lstm[i](bw, mask=mask, training=training), axis=[1])
            if i >= self.layers - self.res_layers:
                out_fw, out_bw = out_fw + fw, out_bw + bw
            fw, bw = out_fw, out_bw
        if mask is not None:
            valid = tf.cast(mask, fw.dtype)[:, :, None]
            fw, bw = fw * valid, bw * valid
        if self.merge_mode == "fw":
            return fw
        if self.merge_mode == "bw":
            return bw
        if self.merge_mode == "concat":
            return tf.concat([fw, bw], axis=-1)
        if self.merge_mode == "sum":
            return fw + bw
        if self.merge_mode == "mul":
            return fw * bw
        if self.merge_mode == "ave":
            return (fw + bw) / 2
        return [fw, bw]

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], input_shape[1], self.units)
        if self.merge_mode is None:
            return [shape, shape]
        if self.merge_mode == "concat":
            return (input_shape[0], input_shape[1], 2 * self.units)
        return shape

    def compute_mask(self, inputs, mask=None):
        return [mask, mask] if self.merge_mode is None else mask

    def get_config(self):
        return {**super().get_config(), "units": self.units, "layers": self.layers,
                "res_layers": self.res_layers, "dropout_rate": self.dropout_rate,
                "merge_mode": self.merge_mode}

