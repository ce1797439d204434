"""FusedEmbedding: many logical embedding tables in one variable, read with one gather."""
import numpy as np
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
    raises InvalidArgumentError instead of silently reading a neighbouring table; its message
    names the layer, the table, its size, whether the id was negative or too large, and where
    the first such id was (input, batch row, position). All inputs are checked at once.
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
        ids = [tf.cast(x, tf.int32) for x in inputs]
        lengths = [x.shape[1] if x.shape[1] is not None else tf.shape(x)[1] for x in ids]
        raw = ids[0] if len(ids) == 1 else tf.concat(ids, axis=1)
        columns = self._columns(lengths)
        flat = self._checked(raw, columns, lengths) + columns["offset"]
        embedded = tf.gather(self.embeddings, flat)
        if len(ids) == 1:
            return [embedded]
        return tf.split(embedded, lengths, axis=1)

    def _columns(self, lengths):
        """Per column of the concatenated ids ([sum(L_i)] each): the input it comes from, its
        table, the table's size and row offset. Constants when every L_i is static."""
        if all(isinstance(n, int) for n in lengths):
            column_input = np.repeat(np.arange(len(lengths), dtype="int32"), lengths)
            table = np.asarray(self.input_tables, "int32")[column_input]
            return {"input": tf.constant(column_input), "table": tf.constant(table),
                    "size": tf.constant(np.asarray(self.table_sizes, "int32")[table]),
                    "offset": tf.constant(np.asarray(self._offsets, "int32")[table])}
        column_input = tf.repeat(tf.range(len(lengths)), tf.stack(lengths))
        table = tf.gather(tf.constant(self.input_tables, tf.int32), column_input)
        return {"input": column_input, "table": table,
                "size": tf.gather(tf.constant(self.table_sizes, tf.int32), table),
                "offset": tf.gather(tf.constant(self._offsets, tf.int32), table)}

    def _checked(self, raw, columns, lengths):
        """`raw` ([B, sum(L_i)] ids, before the table offsets), after one check that every id
        lies in its own table. Ids are only inspected further (first offending id, its table's
        message) on the failing branch, so a valid batch costs one compare, one reduction and
        one cond, however many inputs the layer has."""
        in_range = tf.logical_and(raw >= 0, raw < columns["size"])

        def fail():
            row, column = tf.unstack(tf.cast(tf.where(tf.logical_not(in_range))[0], tf.int32))
            value, table = raw[row, column], columns["table"][column]
            messages = tf.constant(  # [2, tables]: too large, negative
                [[f"{self.name}: id out of range for table {self._table_label(t)} of size {size}"
                  for t, size in enumerate(self.table_sizes)],
                 [f"{self.name}: negative id for table {self._table_label(t)} of size {size}"
                  for t, size in enumerate(self.table_sizes)]])
            input_index = columns["input"][column]
            input_start = tf.reduce_sum(tf.stack(lengths)[:input_index])
            failed = tf.debugging.Assert(False, [
                tf.gather_nd(messages, [tf.cast(value < 0, tf.int32), table]),
                "id", value, "in input", input_index, "at batch row", row,
                "position", column - input_start], summarize=1)
            with tf.control_dependencies([failed]):
                return tf.identity(raw)

        return tf.cond(tf.reduce_all(in_range), lambda: raw, fail)

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
