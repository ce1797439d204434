"""DeepCTR's ``feature_column`` module: the column types and the input helpers DeepCTR defines
here. The columns live in columns.py and the embedding/linear inputs in inputs.py (which builds
on columns.py); this module only gathers them, so nothing inside ctr_models imports it."""
from .columns import (DEFAULT_GROUP_NAME, DenseFeat, SparseFeat, VarLenSparseFeat,
                      auto_embedding_dim, build_input_features, get_feature_names)
from .inputs import get_linear_logit, input_from_feature_columns

__all__ = ["SparseFeat", "DenseFeat", "VarLenSparseFeat", "DEFAULT_GROUP_NAME",
           "get_feature_names", "build_input_features", "auto_embedding_dim",
           "get_linear_logit", "input_from_feature_columns"]
