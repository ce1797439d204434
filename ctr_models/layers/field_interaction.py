"""Field-interaction layers: self-attention (AutoInt), feature generation (FGCNN), squeeze-
excitation and bilinear products (FiBiNET), field-wise bi-interaction (FLEN), field-weighted and
field-embedded FMs (FwFM, DeepFEFM), and EDCN's bridge and regulation modules.

Field inputs are [B, F, k] tensors; layers that DeepCTR calls on a list of F tensors [B, 1, k]
(SENETLayer, BilinearInteraction) accept both forms. Field pairs (i, j), i < j, are enumerated
row-major: (0,1), (0,2), ..., (1,2), ...
"""
import tensorflow as tf
import tf_keras as keras

from .core import DNN, RegulationModule  # DeepCTR also exports the module from here
from .fields import check_rank3, field_shapes, l2_or_none, pair_indices, stack_fields

__all__ = ["InteractingLayer", "FGCNNLayer", "SENETLayer", "BilinearInteraction",
           "FieldWiseBiInteraction", "FwFMLayer", "FEFMLayer", "BridgeModule",
           "RegulationModule"]


def _glorot_normal_stack(count, seed):
    """Glorot-normal init for a stack of `count` square [k, k] matrices ([count, k, k]): the
    same spread each matrix would get on its own (Keras would count `count` as a receptive
    field and shrink it)."""
    return keras.initializers.VarianceScaling(scale=float(count), mode="fan_avg",
                                              distribution="truncated_normal", seed=seed)


class InteractingLayer(keras.layers.Layer):
    """Multi-head self-attention over fields (AutoInt).

    For each head h: Q = x W_Q^h, K = x W_K^h, V = x W_V^h ([B, F, d] each, d =
    att_embedding_size); A = softmax_rows(Q K^T [/ sqrt(d) when `scaling`]); head_h = A V.
    Output: relu(concat_h head_h [+ x W_Res when `use_res`]).

    Input: [B, F, k]. Output: [B, F, att_embedding_size * head_num].
    `attention_scores(inputs)` returns A for every head, [B, head_num, F, F].
    """

    def __init__(self, att_embedding_size=8, head_num=2, use_res=True, scaling=False, seed=1024,
                 **kwargs):
        if not isinstance(head_num, int) or head_num <= 0:
            raise ValueError(f"InteractingLayer head_num must be a positive int, got {head_num!r}")
        if not isinstance(att_embedding_size, int) or att_embedding_size <= 0:
            raise ValueError(f"InteractingLayer att_embedding_size must be a positive int, "
                             f"got {att_embedding_size!r}")
        super().__init__(**kwargs)
        self.att_embedding_size = att_embedding_size
        self.head_num = head_num
        self.use_res = use_res
        self.scaling = scaling
        self.seed = seed

    def build(self, input_shape):
        _, size = check_rank3("InteractingLayer", input_shape)
        units = self.att_embedding_size * self.head_num

        def weight(name, offset):
            return self.add_weight(name=name, shape=(size, units),
                                   initializer=keras.initializers.TruncatedNormal(
                                       seed=self.seed + offset))

        self.W_Query = weight("query", 0)
        self.W_key = weight("key", 1)
        self.W_Value = weight("value", 2)
        if self.use_res:
            self.W_Res = weight("res", 3)
        super().build(input_shape)

    def _heads(self, x, kernel):
        """[B, F, k] -> [B, F, head_num, d]."""
        projected = tf.tensordot(x, kernel, axes=1)
        return tf.reshape(projected, (-1, tf.shape(x)[1], self.head_num,
                                      self.att_embedding_size))

    def _scores(self, inputs):
        queries = self._heads(inputs, self.W_Query)
        keys = self._heads(inputs, self.W_key)
        logits = tf.einsum("bfhd,bghd->bhfg", queries, keys)
        if self.scaling:
            logits /= self.att_embedding_size ** 0.5
        return tf.nn.softmax(logits, axis=-1)

    def attention_scores(self, inputs):
        """Attention weights [B, head_num, F, F]; each row sums to 1."""
        if not self.built:
            self.build(inputs.shape)
        return self._scores(inputs)

    def call(self, inputs):
        scores = self._scores(inputs)
        values = self._heads(inputs, self.W_Value)
        result = tf.einsum("bhfg,bghd->bfhd", scores, values)
        result = tf.reshape(result, (-1, tf.shape(inputs)[1],
                                     self.head_num * self.att_embedding_size))
        if self.use_res:
            result += tf.tensordot(inputs, self.W_Res, axes=1)
        return tf.nn.relu(result)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.att_embedding_size * self.head_num)

    def get_config(self):
        return {**super().get_config(), "att_embedding_size": self.att_embedding_size,
                "head_num": self.head_num, "use_res": self.use_res, "scaling": self.scaling,
                "seed": self.seed}


class FGCNNLayer(keras.layers.Layer):
    """Feature generation of FGCNN: convolution, max-pooling and recombination.

    The input is treated as an image [B, F, k, 1]. Stage i: Conv2D(filters[i], kernel
    (kernel_width[i], 1), 'same' padding, tanh) -> MaxPooling2D((pooling_width[i], 1)) giving
    F_i = F_{i-1} // pooling_width[i] rows -> Dense(F_i * k * new_maps[i], tanh) reshaped to
    F_i * new_maps[i] new fields of size k. The next stage convolves the pooled maps.

    Input: [B, F, k]. Output: [B, sum_i F_i * new_maps[i], k].
    """

    def __init__(self, filters=(14, 16), kernel_width=(7, 7), new_maps=(3, 3),
                 pooling_width=(2, 2), **kwargs):
        filters, kernel_width = tuple(filters), tuple(kernel_width)
        new_maps, pooling_width = tuple(new_maps), tuple(pooling_width)
        if not len(filters) == len(kernel_width) == len(new_maps) == len(pooling_width):
            raise ValueError(f"FGCNNLayer filters, kernel_width, new_maps and pooling_width must "
                             f"have the same length, got {filters}, {kernel_width}, {new_maps}, "
                             f"{pooling_width}")
        for name, values in (("filters", filters), ("kernel_width", kernel_width),
                             ("new_maps", new_maps), ("pooling_width", pooling_width)):
            if any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"FGCNNLayer {name} must hold positive ints, got {values!r}")
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_width = kernel_width
        self.new_maps = new_maps
        self.pooling_width = pooling_width

    def stage_rows(self, num_fields):
        """Rows F_i after each stage's pooling for `num_fields` input fields (raises
        ValueError when a stage would be left with none)."""
        rows, out = num_fields, []
        for i, width in enumerate(self.pooling_width):
            rows //= width
            if rows < 1:
                raise ValueError(f"FGCNNLayer: pooling_width {self.pooling_width} leaves no rows "
                                 f"at stage {i} for {num_fields} input fields; use fewer stages "
                                 f"or smaller pooling widths")
            out.append(rows)
        return out

    def build(self, input_shape):
        num_fields, size = check_rank3("FGCNNLayer", input_shape)
        self.pooled_rows = self.stage_rows(num_fields)
        self.conv_layers, self.pooling_layers, self.dense_layers = [], [], []
        for i, rows in enumerate(self.pooled_rows):
            self.conv_layers.append(keras.layers.Conv2D(
                self.filters[i], (self.kernel_width[i], 1), padding="same", activation="tanh",
                name=f"conv_{i}"))
            self.pooling_layers.append(keras.layers.MaxPooling2D((self.pooling_width[i], 1),
                                                                 name=f"pool_{i}"))
            self.dense_layers.append(keras.layers.Dense(rows * size * self.new_maps[i],
                                                        activation="tanh", name=f"dense_{i}"))
        self.flatten = keras.layers.Flatten()
        super().build(input_shape)

    def call(self, inputs):
        size = int(inputs.shape[-1])
        maps = tf.expand_dims(inputs, axis=3)
        new_features = []
        for i, rows in enumerate(self.pooled_rows):
            maps = self.pooling_layers[i](self.conv_layers[i](maps))
            generated = self.dense_layers[i](self.flatten(maps))
            new_features.append(tf.reshape(generated, (-1, rows * self.new_maps[i], size)))
        return new_features[0] if len(new_features) == 1 else tf.concat(new_features, axis=1)

    def compute_output_shape(self, input_shape):
        num_fields, size = check_rank3("FGCNNLayer", input_shape)
        rows = self.stage_rows(num_fields)
        return (input_shape[0], sum(r * m for r, m in zip(rows, self.new_maps)), size)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_width": self.kernel_width, "new_maps": self.new_maps,
                "pooling_width": self.pooling_width}


class SENETLayer(keras.layers.Layer):
    """Squeeze-excitation field reweighting of FiBiNET.

    z = mean_k(x) [B, F]; a = relu(relu(z W_1) W_2) [B, F] with W_1 [F, r], W_2 [r, F],
    r = max(1, F // reduction_ratio); output x_i * a_i per field.

    Input: list of F >= 2 tensors [B, 1, k] (output: the same list form), or [B, F, k]
    (output: [B, F, k]).
    """

    def __init__(self, reduction_ratio=3, seed=1024, **kwargs):
        if not isinstance(reduction_ratio, int) or reduction_ratio < 1:
            raise ValueError(f"SENETLayer reduction_ratio must be a positive int, "
                             f"got {reduction_ratio!r}")
        super().__init__(**kwargs)
        self.reduction_ratio = reduction_ratio
        self.seed = seed

    def build(self, input_shape):
        self.num_fields, _ = field_shapes("SENETLayer", input_shape)
        reduction_size = max(1, self.num_fields // self.reduction_ratio)
        self.W_1 = self.add_weight(name="W_1", shape=(self.num_fields, reduction_size),
                                   initializer=keras.initializers.GlorotNormal(seed=self.seed))
        self.W_2 = self.add_weight(name="W_2", shape=(reduction_size, self.num_fields),
                                   initializer=keras.initializers.GlorotNormal(
                                       seed=self.seed + 1))
        super().build(input_shape)

    def call(self, inputs):
        x = stack_fields(inputs)
        z = tf.reduce_mean(x, axis=-1)
        a = tf.nn.relu(tf.matmul(tf.nn.relu(tf.matmul(z, self.W_1)), self.W_2))
        v = x * tf.expand_dims(a, axis=2)
        if isinstance(inputs, (list, tuple)):
            return tf.split(v, self.num_fields, axis=1)
        return v

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return [None] * len(inputs) if isinstance(inputs, (list, tuple)) else None

    def get_config(self):
        return {**super().get_config(), "reduction_ratio": self.reduction_ratio,
                "seed": self.seed}


class BilinearInteraction(keras.layers.Layer):
    """Bilinear field-pair interactions of FiBiNET: p_ij = (v_i W) * v_j for each pair i < j.

    bilinear_type='all': one W [k, k] shared by all pairs; 'each': one W_i per left field i
    (F - 1 of them); 'interaction': one W_ij per pair.

    Input: list of F >= 2 tensors [B, 1, k] (or [B, F, k]). Output: [B, F(F-1)/2, k].
    """

    BILINEAR_TYPES = ("each", "all", "interaction")

    def __init__(self, bilinear_type="interaction", seed=1024, **kwargs):
        if bilinear_type not in self.BILINEAR_TYPES:
            raise ValueError(f"BilinearInteraction bilinear_type must be one of "
                             f"{self.BILINEAR_TYPES}, got {bilinear_type!r}")
        super().__init__(**kwargs)
        self.bilinear_type = bilinear_type
        self.seed = seed

    def build(self, input_shape):
        self.num_fields, size = field_shapes("BilinearInteraction", input_shape)
        self.rows, self.cols = pair_indices(self.num_fields)
        count = {"all": 1, "each": self.num_fields - 1,
                 "interaction": len(self.rows)}[self.bilinear_type]
        # all: [k, k]; each: [F - 1, k, k]; interaction: [F(F-1)/2, k, k]
        shape = (size, size) if self.bilinear_type == "all" else (count, size, size)
        self.W = self.add_weight(name="bilinear_weight", shape=shape,
                                 initializer=_glorot_normal_stack(1 if self.bilinear_type == "all"
                                                                  else count, self.seed))
        super().build(input_shape)

    def call(self, inputs):
        x = stack_fields(inputs)
        left = tf.gather(x, self.rows, axis=1)
        right = tf.gather(x, self.cols, axis=1)
        if self.bilinear_type == "all":
            projected = tf.tensordot(left, self.W, axes=1)
        elif self.bilinear_type == "each":
            projected = tf.einsum("bpk,pkl->bpl", left, tf.gather(self.W, self.rows))
        else:
            projected = tf.einsum("bpk,pkl->bpl", left, self.W)
        return projected * right

    def compute_output_shape(self, input_shape):
        num_fields, size = field_shapes("BilinearInteraction", input_shape)
        return (None, num_fields * (num_fields - 1) // 2, size)

    def get_config(self):
        return {**super().get_config(), "bilinear_type": self.bilinear_type, "seed": self.seed}


class FieldWiseBiInteraction(keras.layers.Layer):
    """Field-wise bi-interaction of FLEN over G >= 2 field groups.

    s_g = sum of the embeddings of group g [B, k].
    MF part: h_mf = sum_{g<h} r_gh * s_g * s_h (+ bias_mf), r initialised to 1.
    FM part: h_fm = sum_g w_g * (s_g^2 - sum_{i in g} v_i^2) (+ bias_fm), w initialised to 0.5
    (so that w_g * (...) starts as the within-group FM interaction).
    Output: h_mf + h_fm.

    Input: list of G tensors [B, F_g, k]. Output: [B, k].
    """

    def __init__(self, use_bias=True, seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = use_bias
        self.seed = seed

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or isinstance(
                input_shape[0], (int, type(None))):
            raise ValueError("FieldWiseBiInteraction needs a list of at least 2 inputs "
                             f"[batch, fields, embedding_size] (one per group), got {input_shape}")
        sizes = {check_rank3("FieldWiseBiInteraction", s)[1] for s in input_shape}
        if len(sizes) > 1:
            raise ValueError(f"FieldWiseBiInteraction needs one embedding size across groups, "
                             f"got {sorted(sizes)}")
        size = sizes.pop()
        self.num_groups = len(input_shape)
        self.rows, self.cols = pair_indices(self.num_groups)
        self.kernel_mf = self.add_weight(name="kernel_mf", shape=(len(self.rows), 1),
                                         initializer=keras.initializers.Ones())
        self.kernel_fm = self.add_weight(name="kernel_fm", shape=(self.num_groups, 1),
                                         initializer=keras.initializers.Constant(0.5))
        if self.use_bias:
            self.bias_mf = self.add_weight(name="bias_mf", shape=(size,),
                                           initializer=keras.initializers.Zeros())
            self.bias_fm = self.add_weight(name="bias_fm", shape=(size,),
                                           initializer=keras.initializers.Zeros())
        super().build(input_shape)

    def call(self, inputs):
        sums = tf.stack([tf.reduce_sum(g, axis=1) for g in inputs], axis=1)  # [B, G, k]
        squares = tf.stack([tf.reduce_sum(g * g, axis=1) for g in inputs], axis=1)
        products = tf.gather(sums, self.rows, axis=1) * tf.gather(sums, self.cols, axis=1)
        h_mf = tf.reduce_sum(products * self.kernel_mf, axis=1)
        h_fm = tf.reduce_sum((tf.square(sums) - squares) * self.kernel_fm, axis=1)
        if self.use_bias:
            h_mf += self.bias_mf
            h_fm += self.bias_fm
        return h_mf + h_fm

    def compute_output_shape(self, input_shape):
        return (None, input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias, "seed": self.seed}


class FwFMLayer(keras.layers.Layer):
    """Field-weighted FM: sum_{i<j} r_ij <v_i, v_j>, one learned strength r_ij per field pair
    (stored in the upper triangle of a [F, F] matrix, L2-regularised by `regularizer`).

    Input: [B, num_fields, k]. Output: [B, 1].
    """

    def __init__(self, num_fields=4, regularizer=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.num_fields = num_fields
        self.regularizer = regularizer

    def build(self, input_shape):
        num_fields, _ = check_rank3("FwFMLayer", input_shape)
        if num_fields != self.num_fields:
            raise ValueError(f"FwFMLayer was built for num_fields={self.num_fields} but its input "
                             f"has {num_fields} fields")
        self.field_strengths = self.add_weight(
            name="field_pair_strengths", shape=(num_fields, num_fields),
            initializer=keras.initializers.TruncatedNormal(),
            regularizer=l2_or_none(self.regularizer))
        super().build(input_shape)

    def call(self, inputs):
        gram = tf.matmul(inputs, inputs, transpose_b=True)  # [B, F, F] of <v_i, v_j>
        upper = tf.linalg.band_part(self.field_strengths, 0, -1)
        weights = upper - tf.linalg.band_part(upper, 0, 0)  # r_ij for i < j only
        return tf.reduce_sum(gram * weights, axis=(1, 2))[:, None]

    def compute_output_shape(self, input_shape):
        return (None, 1)

    def get_config(self):
        return {**super().get_config(), "num_fields": self.num_fields,
                "regularizer": self.regularizer}


class FEFMLayer(keras.layers.Layer):
    """Field-embedded FM interactions: for each field pair i < j,
    v_i^T (W_ij + W_ij^T) v_j with a learned [k, k] matrix W_ij (L2 by `regularizer`).

    Input: [B, F, k], F >= 2. Output: [B, F(F-1)/2] (one score per pair; their sum is the
    FEFM logit, the vector feeds DeepFEFM's DNN).
    """

    def __init__(self, regularizer, **kwargs):
        super().__init__(**kwargs)
        self.regularizer = regularizer

    def build(self, input_shape):
        self.num_fields, size = check_rank3("FEFMLayer", input_shape)
        if self.num_fields < 2:
            raise ValueError(f"FEFMLayer needs at least 2 fields, got {self.num_fields}")
        self.rows, self.cols = pair_indices(self.num_fields)
        self.field_embeddings = self.add_weight(
            name="field_embeddings", shape=(len(self.rows), size, size),
            initializer=keras.initializers.TruncatedNormal(),
            regularizer=l2_or_none(self.regularizer))
        super().build(input_shape)

    def call(self, inputs):
        left = tf.gather(inputs, self.rows, axis=1)
        right = tf.gather(inputs, self.cols, axis=1)
        symmetric = self.field_embeddings + tf.transpose(self.field_embeddings, (0, 2, 1))
        return tf.einsum("bpk,pkl,bpl->bp", left, symmetric, right)

    def compute_output_shape(self, input_shape):
        num_fields = int(input_shape[1])
        return (None, num_fields * (num_fields - 1) // 2)

    def get_config(self):
        return {**super().get_config(), "regularizer": self.regularizer}


class BridgeModule(keras.layers.Layer):
    """EDCN's bridge between the cross tower output x and the deep tower output h.

    'pointwise_addition': x + h; 'hadamard_product': x * h;
    'concatenation': Dense(d, activation)([x, h]);
    'attention_pooling': a_x * x + a_h * h, with a_x = softmax(Dense(d)(Dense(d, activation)(x)))
    and a_h likewise from h.

    Input: list of two [B, d] tensors. Output: [B, d].
    """

    BRIDGE_TYPES = ("pointwise_addition", "hadamard_product", "concatenation",
                    "attention_pooling")

    def __init__(self, bridge_type="hadamard_product", activation="relu", **kwargs):
        if bridge_type not in self.BRIDGE_TYPES:
            raise ValueError(f"BridgeModule bridge_type must be one of {self.BRIDGE_TYPES}, "
                             f"got {bridge_type!r}")
        super().__init__(**kwargs)
        self.bridge_type = bridge_type
        self.activation = activation

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or isinstance(
                input_shape[0], (int, type(None))):
            raise ValueError(f"BridgeModule needs a list of two [batch, units] inputs, "
                             f"got {input_shape}")
        dims = [tf.TensorShape(s).as_list()[-1] for s in input_shape]
        if dims[0] != dims[1]:
            raise ValueError(f"BridgeModule inputs must have the same width, got {dims}")
        self.dnn_dim = int(dims[0])
        if self.bridge_type == "concatenation":
            self.dense = keras.layers.Dense(self.dnn_dim, self.activation, name="dense")
        elif self.bridge_type == "attention_pooling":
            # each attention net: Dense(d, activation) -> Dense(d) -> softmax; written as two
            # DNNs since DNN(output_activation=...) cannot be saved as a SavedModel (core.py
            # replaces an item of its tracked activation list)
            self.dense_x = [DNN([self.dnn_dim], self.activation, name="dense_x_0"),
                            DNN([self.dnn_dim], "softmax", seed=1025, name="dense_x_1")]
            self.dense_h = [DNN([self.dnn_dim], self.activation, seed=1026, name="dense_h_0"),
                            DNN([self.dnn_dim], "softmax", seed=1027, name="dense_h_1")]
        super().build(input_shape)

    def call(self, inputs):
        x, h = inputs
        if self.bridge_type == "pointwise_addition":
            return x + h
        if self.bridge_type == "hadamard_product":
            return x * h
        if self.bridge_type == "concatenation":
            return self.dense(tf.concat([x, h], axis=-1))
        a_x = self.dense_x[1](self.dense_x[0](x))
        a_h = self.dense_h[1](self.dense_h[0](h))
        return a_x * x + a_h * h

    def compute_output_shape(self, input_shape):
        return (None, input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "bridge_type": self.bridge_type,
                "activation": self.activation}
