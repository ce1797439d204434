"""FusedEmbedding: many logical embedding tables in one variable, read with one gather."""
import tensorflow as tf
import tf_keras as keras

__all__ = ["FusedEmbedding"]

DEFAULT_EMBEDDINGS_INITIALIZER = {"class_name": "RandomNormal",
                                  "config": {"mean": 0.0, "stddev": 1e-4, "seed": 2020}}
LINEAR_EMBEDDINGS_INITIALIZER = {"class_name": "Zeros", "config": {}}


class FusedEmbedding(keras.layers.Layer):
    """Several embedding tables of one dim stored in one [sum(table_sizes), dim] variable.

    Input: list of int tensors [B, L_i] (L_i = 1 for a single id), the i-th read from table
    ``input_tables[i]``. Output: list of [B, L_i, dim], from one gather. Outputs whose
    ``input_mask_zero[i]`` is true carry the Keras mask ``ids != 0``. An id outside its table
    raises InvalidArgumentError instead of silently reading a neighbouring table.
    """

    def __init__(self, table_sizes, embedding_dim, input_tables, input_mask_zero=None,
                 embeddings_initializer=None, l2_reg=0.0, table_names=None, **kwargs):
        super().__init__(**kwargs)
        self.table_sizes = [int(s) for s in table_sizes]
        self.embedding_dim = int(embedding_dim)
        self.input_tables = [int(t) for t in input_tables]
        self.input_mask_zero = list(input_mask_zero or [False] * len(self.input_tables))
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or DEFAULT_EMBEDDINGS_INITIALIZER)
        self.l2_reg = l2_reg
        self.table_names = list(table_names or [])
        offsets, total = [], 0
        for size in self.table_sizes:
            offsets.append(total)
            total += size
        self._offsets = offsets
        self._total_rows = total

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self._total_rows, self.embedding_dim),
            initializer=self.embeddings_initializer,
            regularizer=keras.regularizers.l2(self.l2_reg) if self.l2_reg else None)
        super().build(input_shape)

    def call(self, inputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        ids, lengths = [], []
        for x, table in zip(inputs, self.input_tables):
            x = tf.cast(x, tf.int32)
            tf.debugging.assert_less(
                x, self.table_sizes[table],
                message=f"{self.name}: id out of range for table {self._table_label(table)} "
                        f"of size {self.table_sizes[table]}")
            tf.debugging.assert_non_negative(
                x, message=f"{self.name}: negative id for table {self._table_label(table)}")
            ids.append(x + self._offsets[table] if self._offsets[table] else x)
            lengths.append(tf.shape(x)[1])
        flat = ids[0] if len(ids) == 1 else tf.concat(ids, axis=1)
        embedded = tf.gather(self.embeddings, flat)
        if len(ids) == 1:
            return [embedded]
        return tf.split(embedded, [int(x.shape[1]) if x.shape[1] is not None else n
                                   for x, n in zip(inputs, lengths)], axis=1)

    def _table_label(self, table):
        return self.table_names[table] if table < len(self.table_names) else table

    def compute_mask(self, inputs, mask=None):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return [tf.not_equal(tf.cast(x, tf.int32), 0) if mask_zero else None
                for x, mask_zero in zip(inputs, self.input_mask_zero)]

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        return [tuple(s[:2]) + (self.embedding_dim,) for s in shapes]

    def get_config(self):
        return {**super().get_config(), "table_sizes": self.table_sizes,
                "embedding_dim": self.embedding_dim, "input_tables": self.input_tables,
                "input_mask_zero": self.input_mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "l2_reg": self.l2_reg, "table_names": self.table_names}
