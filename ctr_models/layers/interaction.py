"""Feature-interaction layers (FM family, cross networks, CIN, product layers).

Field-pair layers (AFMLayer, InnerProductLayer, OutterProductLayer) take DeepCTR's input form,
a list of F tensors [B, 1, k], and also accept the stacked form [B, F, k]. Pairs (i, j), i < j,
are enumerated row-major: (0,1), (0,2), ..., (1,2), ...
"""
import tensorflow as tf
import tf_keras as keras

from .activation import activation_layer
# DeepCTR's layers.interaction also holds the field-interaction layers; ours live in
# field_interaction.py (which does not import this module) and are re-exported here.
from .field_interaction import (  # noqa: F401
    BilinearInteraction, BridgeModule, FEFMLayer, FGCNNLayer, FieldWiseBiInteraction, FwFMLayer,
    InteractingLayer, SENETLayer)
from .fields import field_shapes, l2_or_none, pair_indices, stack_fields

__all__ = ["FM", "BiInteractionPooling", "AFMLayer", "CrossNet", "CrossNetMix", "CIN",
           "InnerProductLayer", "OutterProductLayer"]


def _field_pairs(inputs, num_fields):
    """([B, P, k] left factors, [B, P, k] right factors) for the P = F(F-1)/2 pairs i < j."""
    x = stack_fields(inputs)
    rows, cols = pair_indices(num_fields)
    return tf.gather(x, rows, axis=1), tf.gather(x, cols, axis=1)


class FM(keras.layers.Layer):
    """Factorization Machine pairwise term without the linear part.

    0.5 * sum_k[(sum_i v_ik)^2 - sum_i v_ik^2] = sum_{i<j} <v_i, v_j>.
    Input: [B, F, k] (F field embeddings). Output: [B, 1].
    """

    def call(self, inputs):
        if inputs.shape.rank != 3:
            raise ValueError(f"FM expects [batch, fields, dim] input, got shape {inputs.shape}")
        square_of_sum = tf.square(tf.reduce_sum(inputs, axis=1))
        sum_of_square = tf.reduce_sum(inputs * inputs, axis=1)
        return 0.5 * tf.reduce_sum(square_of_sum - sum_of_square, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (None, 1)


class BiInteractionPooling(keras.layers.Layer):
    """Bi-Interaction pooling of NFM: the sum of element-wise products of all field pairs,
    0.5 * [(sum_i v_i)^2 - sum_i v_i^2] (element-wise), i.e. sum_{i<j} v_i * v_j.

    Input: [B, F, k]. Output: [B, 1, k].
    """

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"BiInteractionPooling needs [batch, fields, dim] input, "
                             f"got shape {input_shape}")
        super().build(input_shape)

    def call(self, inputs):
        square_of_sum = tf.square(tf.reduce_sum(inputs, axis=1, keepdims=True))
        sum_of_square = tf.reduce_sum(inputs * inputs, axis=1, keepdims=True)
        return 0.5 * (square_of_sum - sum_of_square)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, input_shape[-1])


class AFMLayer(keras.layers.Layer):
    """Attentional FM pairwise term (no linear part, no bias).

    For each field pair (i, j): e_ij = v_i * v_j; attention a_ij = softmax_ij(h . relu(W e_ij + b));
    output = p . dropout(sum_ij a_ij e_ij).

    Input: list of F >= 2 tensors [B, 1, k] (or [B, F, k]). Output: [B, 1].
    `attention_scores(inputs)` returns the normalised weights a_ij, [B, F(F-1)/2, 1].
    """

    def __init__(self, attention_factor=4, l2_reg_w=0, dropout_rate=0, seed=1024, **kwargs):
        super().__init__(**kwargs)
        self.attention_factor = attention_factor
        self.l2_reg_w = l2_reg_w
        self.dropout_rate = dropout_rate
        self.seed = seed

    def build(self, input_shape):
        self.num_fields, size = field_shapes("AFMLayer", input_shape)
        glorot = lambda i: keras.initializers.GlorotNormal(seed=self.seed + i)
        self.attention_W = self.add_weight(name="attention_W",
                                           shape=(size, self.attention_factor),
                                           initializer=glorot(0),
                                           regularizer=l2_or_none(self.l2_reg_w))
        self.attention_b = self.add_weight(name="attention_b", shape=(self.attention_factor,),
                                           initializer=keras.initializers.Zeros())
        self.projection_h = self.add_weight(name="projection_h",
                                            shape=(self.attention_factor, 1),
                                            initializer=glorot(1))
        self.projection_p = self.add_weight(name="projection_p", shape=(size, 1),
                                            initializer=glorot(2))
        self.dropout = keras.layers.Dropout(self.dropout_rate, seed=self.seed)
        super().build(input_shape)

    def _interactions_and_scores(self, inputs):
        p, q = _field_pairs(inputs, self.num_fields)
        interactions = p * q  # [B, P, k]
        hidden = tf.nn.relu(tf.tensordot(interactions, self.attention_W, axes=1)
                            + self.attention_b)
        scores = tf.nn.softmax(tf.tensordot(hidden, self.projection_h, axes=1), axis=1)
        return interactions, scores

    def attention_scores(self, inputs):
        """Normalised attention weight of each field pair: [B, F(F-1)/2, 1], summing to 1."""
        if not self.built:
            self.build([x.shape for x in inputs] if isinstance(inputs, (list, tuple))
                       else inputs.shape)
        return self._interactions_and_scores(inputs)[1]

    def call(self, inputs, training=None):
        interactions, scores = self._interactions_and_scores(inputs)
        pooled = tf.reduce_sum(scores * interactions, axis=1)  # [B, k]
        pooled = self.dropout(pooled, training=training)
        return tf.matmul(pooled, self.projection_p)

    def compute_output_shape(self, input_shape):
        return (None, 1)

    def get_config(self):
        return {**super().get_config(), "attention_factor": self.attention_factor,
                "l2_reg_w": self.l2_reg_w, "dropout_rate": self.dropout_rate, "seed": self.seed}


class CrossNet(keras.layers.Layer):
    """Cross network of DCN: `layer_num` explicit feature-crossing layers.

    parameterization='vector' (DCN):   x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l
    parameterization='matrix' (DCN-M): x_{l+1} = x_0 * (W_l x_l + b_l) + x_l
    (* is element-wise.) Input: [B, d]. Output: [B, d].
    """

    PARAMETERIZATIONS = ("vector", "matrix")

    def __init__(self, layer_num=2, parameterization="vector", l2_reg=0, seed=1024, **kwargs):
        if parameterization not in self.PARAMETERIZATIONS:
            raise ValueError(f"CrossNet parameterization must be one of {self.PARAMETERIZATIONS}, "
                             f"got {parameterization!r}")
        super().__init__(**kwargs)
        self.layer_num = layer_num
        self.parameterization = parameterization
        self.l2_reg = l2_reg
        self.seed = seed

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"CrossNet needs [batch, units] input, got shape {input_shape}")
        dim = int(input_shape[-1])
        kernel_shape = (dim, 1) if self.parameterization == "vector" else (dim, dim)
        self.kernels = [self.add_weight(name=f"kernel{i}", shape=kernel_shape,
                                        initializer=keras.initializers.GlorotNormal(
                                            seed=self.seed + i),
                                        regularizer=l2_or_none(self.l2_reg))
                        for i in range(self.layer_num)]
        self.bias = [self.add_weight(name=f"bias{i}", shape=(dim,),
                                     initializer=keras.initializers.Zeros())
                     for i in range(self.layer_num)]
        super().build(input_shape)

    def call(self, inputs):
        x0 = x = inputs
        for kernel, bias in zip(self.kernels, self.bias):
            if self.parameterization == "vector":
                x = x0 * tf.matmul(x, kernel) + bias + x
            else:
                x = x0 * (tf.matmul(x, kernel, transpose_b=True) + bias) + x
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "layer_num": self.layer_num,
                "parameterization": self.parameterization, "l2_reg": self.l2_reg,
                "seed": self.seed}


class CrossNetMix(keras.layers.Layer):
    """Cross network of DCN-Mix: each layer mixes `num_experts` low-rank cross experts.

    Expert e of layer l: E_e(x_l) = x_0 * (U_e tanh(C_e tanh(V_e^T x_l)) + b_l);
    gates g = softmax_e(x_l . G_e); x_{l+1} = sum_e g_e E_e(x_l) + x_l.
    U_e, V_e: [d, low_rank]; C_e: [low_rank, low_rank] per layer; the gates G: [d, num_experts]
    are shared by all layers (the paper's G_i(x_l), as DeepCTR). Input: [B, d]. Output: [B, d].
    """

    def __init__(self, low_rank=32, num_experts=4, layer_num=2, l2_reg=0, seed=1024, **kwargs):
        for name, value in (("low_rank", low_rank), ("num_experts", num_experts)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"CrossNetMix {name} must be a positive int, got {value!r}")
        super().__init__(**kwargs)
        self.low_rank = low_rank
        self.num_experts = num_experts
        self.layer_num = layer_num
        self.l2_reg = l2_reg
        self.seed = seed

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"CrossNetMix needs [batch, units] input, got shape {input_shape}")
        dim = int(input_shape[-1])
        e, r = self.num_experts, self.low_rank

        def weight(name, i, shape, offset):
            return self.add_weight(name=f"{name}{i}", shape=shape,
                                   initializer=keras.initializers.GlorotNormal(
                                       seed=self.seed + 4 * i + offset),
                                   regularizer=l2_or_none(self.l2_reg))

        self.U_list = [weight("U_list", i, (e, dim, r), 0) for i in range(self.layer_num)]
        self.V_list = [weight("V_list", i, (e, dim, r), 1) for i in range(self.layer_num)]
        self.C_list = [weight("C_list", i, (e, r, r), 2) for i in range(self.layer_num)]
        self.gating = self.add_weight(name="gating", shape=(dim, e),
                                      initializer=keras.initializers.GlorotUniform(
                                          seed=self.seed + 3))
        self.bias = [self.add_weight(name=f"bias{i}", shape=(dim,),
                                     initializer=keras.initializers.Zeros())
                     for i in range(self.layer_num)]
        super().build(input_shape)

    def call(self, inputs):
        x0 = x = inputs
        for U, V, C, bias in zip(self.U_list, self.V_list, self.C_list, self.bias):
            low = tf.tanh(tf.einsum("bd,edr->ber", x, V))
            low = tf.tanh(tf.einsum("esr,ber->bes", C, low))
            experts = tf.expand_dims(x0, 1) * (tf.einsum("edr,ber->bed", U, low) + bias)
            gates = tf.nn.softmax(tf.matmul(x, self.gating), axis=-1)  # [B, E]
            x = tf.einsum("be,bed->bd", gates, experts) + x
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "low_rank": self.low_rank,
                "num_experts": self.num_experts, "layer_num": self.layer_num,
                "l2_reg": self.l2_reg, "seed": self.seed}


class CIN(keras.layers.Layer):
    """Compressed Interaction Network of xDeepFM.

    X^0 = input [B, m, D]. Layer k: Z = X^0 (x) X^{k-1} (outer product over fields, per
    embedding dimension d) -> [B, m*H_{k-1}, D]; X^k_h = act(sum_n W^k[n, h] Z_n + b^k_h),
    H_k = layer_size[k] maps. With `split_half`, every layer but the last passes half of its
    maps on and sends the other half to the output; otherwise all maps do both. The output is
    each output map summed over D.

    Input: [B, m, D]. Output: [B, sum(layer_size[:-1]) // 2 + layer_size[-1]] with
    split_half, else [B, sum(layer_size)].
    """

    def __init__(self, layer_size=(128, 128), activation="relu", split_half=True, l2_reg=1e-5,
                 seed=1024, **kwargs):
        layer_size = tuple(layer_size)
        if not layer_size or any(not isinstance(s, int) or s < 1 for s in layer_size):
            raise ValueError(f"CIN layer_size must be a non-empty list of positive ints, "
                             f"got {layer_size!r}")
        if split_half and any(s % 2 for s in layer_size[:-1]):
            raise ValueError(f"CIN with split_half=True needs even layer sizes except the last, "
                             f"got {layer_size!r}")
        super().__init__(**kwargs)
        self.layer_size = layer_size
        self.activation = activation
        self.split_half = split_half
        self.l2_reg = l2_reg
        self.seed = seed

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"CIN needs [batch, fields, dim] input, got shape {input_shape}")
        self.field_nums = [int(input_shape[1])]
        self.filters, self.bias = [], []
        for i, size in enumerate(self.layer_size):
            self.filters.append(self.add_weight(
                name=f"filter{i}", shape=(self.field_nums[0] * self.field_nums[-1], size),
                initializer=keras.initializers.GlorotUniform(seed=self.seed + i),
                regularizer=l2_or_none(self.l2_reg)))
            self.bias.append(self.add_weight(name=f"bias{i}", shape=(size,),
                                             initializer=keras.initializers.Zeros()))
            self.field_nums.append(size // 2 if self.split_half else size)
        self.activation_layers = [activation_layer(self.activation) for _ in self.layer_size]
        super().build(input_shape)

    def call(self, inputs):
        x0 = inputs
        hidden = inputs
        dim = inputs.shape[-1] if inputs.shape[-1] is not None else tf.shape(inputs)[-1]
        outputs = []
        last = len(self.layer_size) - 1
        for idx, size in enumerate(self.layer_size):
            z = tf.einsum("bmd,bhd->bmhd", x0, hidden)
            z = tf.reshape(z, (-1, self.field_nums[0] * self.field_nums[idx], dim))
            maps = tf.einsum("bnd,nc->bcd", z, self.filters[idx]) + self.bias[idx][:, None]
            maps = self.activation_layers[idx](maps)
            if self.split_half and idx != last:
                hidden, direct = tf.split(maps, 2, axis=1)
            else:
                hidden, direct = maps, maps
            outputs.append(direct)
        return tf.reduce_sum(tf.concat(outputs, axis=1), axis=-1)

    def compute_output_shape(self, input_shape):
        if self.split_half:
            return (None, sum(self.layer_size[:-1]) // 2 + self.layer_size[-1])
        return (None, sum(self.layer_size))

    def get_config(self):
        return {**super().get_config(), "layer_size": self.layer_size,
                "activation": self.activation, "split_half": self.split_half,
                "l2_reg": self.l2_reg, "seed": self.seed}


class InnerProductLayer(keras.layers.Layer):
    """Pairwise products of PNN: for each field pair i < j, <v_i, v_j> (reduce_sum=True) or
    v_i * v_j (reduce_sum=False).

    Input: list of F >= 2 tensors [B, 1, k] (or [B, F, k]).
    Output: [B, F(F-1)/2, 1] (reduce_sum) or [B, F(F-1)/2, k].
    """

    def __init__(self, reduce_sum=True, **kwargs):
        super().__init__(**kwargs)
        self.reduce_sum = reduce_sum

    def build(self, input_shape):
        self.num_fields, self.embedding_size = field_shapes("InnerProductLayer", input_shape)
        super().build(input_shape)

    def call(self, inputs):
        p, q = _field_pairs(inputs, self.num_fields)
        product = p * q
        if self.reduce_sum:
            return tf.reduce_sum(product, axis=2, keepdims=True)
        return product

    def compute_output_shape(self, input_shape):
        num_fields, size = field_shapes("InnerProductLayer", input_shape)
        return (None, num_fields * (num_fields - 1) // 2, 1 if self.reduce_sum else size)

    def get_config(self):
        return {**super().get_config(), "reduce_sum": self.reduce_sum}


class OutterProductLayer(keras.layers.Layer):
    """Kernel (outer) products of PNN: for each field pair i < j with index p,
    kernel_type='mat': v_i^T W_p v_j, with W_p[a, b] = kernel[b, p, a] (kernel [k, P, k]);
    kernel_type='vec': sum_a v_ia v_ja kernel[p, a] (kernel [P, k]);
    kernel_type='num': kernel[p] <v_i, v_j> (kernel [P, 1]).

    Input: list of F >= 2 tensors [B, 1, k] (or [B, F, k]). Output: [B, F(F-1)/2].
    """

    KERNEL_TYPES = ("mat", "vec", "num")

    def __init__(self, kernel_type="mat", seed=1024, **kwargs):
        if kernel_type not in self.KERNEL_TYPES:
            raise ValueError(f"OutterProductLayer kernel_type must be one of "
                             f"{self.KERNEL_TYPES}, got {kernel_type!r}")
        super().__init__(**kwargs)
        self.kernel_type = kernel_type
        self.seed = seed

    def build(self, input_shape):
        self.num_fields, size = field_shapes("OutterProductLayer", input_shape)
        num_pairs = self.num_fields * (self.num_fields - 1) // 2
        shape = {"mat": (size, num_pairs, size), "vec": (num_pairs, size),
                 "num": (num_pairs, 1)}[self.kernel_type]
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=keras.initializers.GlorotUniform(seed=self.seed))
        super().build(input_shape)

    def call(self, inputs):
        p, q = _field_pairs(inputs, self.num_fields)
        if self.kernel_type == "mat":
            return tf.einsum("bpa,cpa,bpc->bp", p, self.kernel, q)
        return tf.reduce_sum(p * q * self.kernel, axis=-1)

    def compute_output_shape(self, input_shape):
        num_fields, _ = field_shapes("OutterProductLayer", input_shape)
        return (None, num_fields * (num_fields - 1) // 2)

    def get_config(self):
        return {**super().get_config(), "kernel_type": self.kernel_type, "seed": self.seed}
