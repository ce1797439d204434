"""Parity with DeepCTR, model by model: the installed 0.9.4 release with upstream's two bug-fix
commits of April 2026 reproduced here (see "The reference" below).

For each CTR model, multi-task model and DIN, with their main options, the DeepCTR model and ours
are built from the same feature columns; DeepCTR's weights are set to random values and copied into ours
(`copy_deepctr_weights`), and both must predict the same on random inputs (to 1e-5).
Deliberate differences (listed in the models' docstrings and README) have their own tests.

DeepCTR runs on tf_keras (conftest sets TF_USE_LEGACY_KERAS=1 before TensorFlow is imported);
deepctr 0.9.4 imports nothing this TF lacks, so no shim is needed.

How weights are copied (one helper for every model):
- Embedding tables. DeepCTR has one Keras Embedding per table, named
  ``<prefix>sparse_emb_<embedding_name>`` (``<prefix>sparse_seq_emb_<feature>`` for a
  VarLenSparseFeat); ours keeps the tables of one dim in one FusedEmbedding variable, rows
  stacked in `table_names` order. `DEEPCTR_PREFIX` maps our layer prefix to DeepCTR's (our
  multi-unit linear tables, MLR's, take one DeepCTR table per unit as columns).
- Every other weight: layers are paired by class (our composite ExpertGate by its sublayers);
  within a class, weights by role (the weight name without indices), each of ours taking
  DeepCTR's next unused weight of that role -- from the layer named like ours first (PLE's
  experts and gates) -- whose shape fits: equal, reshaped (same size), or n of them stacked
  (our [n, ...] tensor of DeepCTR's n per-pair matrices) or concatenated on the last axis (our
  multi-unit kernels). The cases give layers of one class distinct widths where their order
  differs between the two models (xDeepFM's CIN and DNN logits, MMOE's experts and gates).
Every weight on both sides must be used, so a layer one side lacks fails the copy.

The reference. Compared against shenweichen/DeepCTR at commit
1b5fe40e158d1ee6af8b1d9df217a5ed5aea9136 (2026-04-26, PR #555; its parent a827877b, PR #551),
the newest upstream commit, read but not installed: no release carries it, so the installed
0.9.4 package stays the reference and this module reproduces what the two commits fix that
changes a model (written here from their description, not copied):
- #551: one embedding table per embedding_name, shared by every column naming it and named
  after it (`fixed_create_embedding_dict`, patched into deepctr.inputs for this module);
- #555: FNN without the linear logit (`fixed_fnn`). Its other fixes change no prediction:
  DeepFM with only DenseFeats no longer adds 0.9.4's constant-0 FM logit (compared as is),
  and the DNN's activation-list fix and #551's string-dtype check are about building and saving
  (tested in test_models_a/test_model_deepfm/test_feature_column/test_models_multitask).
The 0.9.4 FNN is checked too: it is our WDL (test_deepctr_0_9_4_fnn_is_our_wdl).

BST, DIEN and DSIN differ from DeepCTR on purpose (their docstrings), so they are compared part by
part with copied weights (see the section at the end); DeepCTR's DIEN runs only in a TF1 graph.

Every comparison records its largest absolute difference; `make parity` (pytest -s) prints them
per model at the end of the module.

deepctr is pinned in constraints.txt and installed by `make venv`, so a missing deepctr FAILS
this module (a parity suite that skips itself proves nothing). The one opt-out is explicit: with
CTR_ALLOW_NO_DEEPCTR=1 in the environment the module is skipped, with that reason, outside CI;
under CI=true a missing deepctr fails even then.
"""
import os
import re
from collections import defaultdict

import numpy as np
import pytest

from benchmarks.deepctr_reference import import_deepctr

try:
    deepctr = import_deepctr()  # without its call to pypi.org
except ImportError as error:
    if (os.environ.get("CTR_ALLOW_NO_DEEPCTR") == "1"
            and os.environ.get("CI", "").lower() != "true"):
        pytest.skip(f"CTR_ALLOW_NO_DEEPCTR=1: DeepCTR parity not checked ({error})",
                    allow_module_level=True)
    pytest.fail(f"DeepCTR parity cannot run: {error}. Install the pinned stack (`make venv`); "
                f"to skip these tests on purpose outside CI set CTR_ALLOW_NO_DEEPCTR=1.",
                pytrace=False)

import deepctr.feature_column as dfc  # noqa: E402
import deepctr.models as dmodels  # noqa: E402

from ctr_models import models as ours  # noqa: E402
from ctr_models.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat  # noqa: E402

MULTITASK = ("SharedBottom", "ESMM", "MMOE", "PLE")
UPSTREAM_COMMIT = "1b5fe40e158d1ee6af8b1d9df217a5ed5aea9136"  # shenweichen/DeepCTR, PR #555
BATCH = 8
DIM = 4
HIDDEN = (6, 5)
ATOL = 1e-5

# our FusedEmbedding layer prefix -> DeepCTR's table-name prefix ({u}: unit, {u1}: unit + 1)
DEEPCTR_PREFIX = {"": "", "linear_": "linear{u}", "fg_": "fg", "onn_": "",
                  "region_": "region_{u1}0", "learner_": "learner_{u1}0", "bias_": "bias_{u1}0"}
# (layer class, DeepCTR weight role) -> our role, for the roles named differently
ROLE_ALIASES = {("CrossNetMix", "kernel"): "gating"}  # DeepCTR: Dense(1) per expert
# (our layer class, its sublayer) -> the DeepCTR class of the separate layer it replaces
SUBLAYER_SOURCES = {("ExpertGate", "gate_dnn"): "DNN", ("ExpertGate", "gate_softmax"): "Dense"}
# (class, role) of DeepCTR weights that feed two of ours within one layer: DeepCTR's Transformer
# applies one LayerNormalization twice, ours has one per place (layers.sequence.Transformer)
REUSED_ROLES = {("Transformer", "gamma"), ("Transformer", "beta")}
_TABLE = re.compile(r"^(?P<prefix>.*?)sparse_(?P<seq>seq_)?emb_(?P<name>.+)$")


# ------------------------------------------------------------------------------------------
# upstream's fixes of April 2026 on top of the installed 0.9.4 (see the module docstring)

def fixed_create_embedding_dict(sparse_feature_columns, varlen_sparse_feature_columns, seed,
                                l2_reg, prefix="sparse_", seq_mask_zero=True):
    """deepctr.inputs.create_embedding_dict as fixed by #551: one Embedding per embedding_name
    (``<prefix>_emb_<name>``, or ``<prefix>_seq_emb_<name>`` when only sequences read it),
    masking id 0 when a sequence reads it. (The check of disagreeing columns is left out: the
    cases here never disagree.)"""
    from tensorflow.keras.layers import Embedding
    from tensorflow.keras.regularizers import l2
    varlen = list(varlen_sparse_feature_columns or [])
    sequence_names = {fc.embedding_name for fc in varlen}
    tables = {}
    for fc in list(sparse_feature_columns) + varlen:
        if fc.embedding_name in tables:
            continue
        kind = "_seq_emb_" if isinstance(fc, dfc.VarLenSparseFeat) else "_emb_"
        tables[fc.embedding_name] = Embedding(
            fc.vocabulary_size, fc.embedding_dim, embeddings_initializer=fc.embeddings_initializer,
            embeddings_regularizer=l2(l2_reg), name=prefix + kind + fc.embedding_name,
            mask_zero=seq_mask_zero and fc.embedding_name in sequence_names)
        tables[fc.embedding_name].trainable = fc.trainable
    return tables


def fixed_fnn(linear_feature_columns, dnn_feature_columns, dnn_hidden_units=(256, 128, 64),
              l2_reg_embedding=1e-5, l2_reg_linear=1e-5, l2_reg_dnn=0, seed=1024, dnn_dropout=0,
              dnn_activation="relu", task="binary"):
    """deepctr.models.FNN as fixed by #555: the DNN logit alone (the linear columns stay
    inputs), built from DeepCTR 0.9.4's own pieces."""
    from deepctr.layers.core import DNN, PredictionLayer
    from deepctr.layers.utils import combined_dnn_input
    from tensorflow.keras.layers import Dense
    from tensorflow.keras.models import Model
    features = dfc.build_input_features(linear_feature_columns + dnn_feature_columns)
    sparse, dense = dfc.input_from_feature_columns(features, dnn_feature_columns,
                                                   l2_reg_embedding, seed)
    deep = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False,
               seed=seed)(combined_dnn_input(sparse, dense))
    output = PredictionLayer(task)(Dense(1, use_bias=False)(deep))
    return Model(inputs=list(features.values()), outputs=output)


def fixed_deepfm(linear_feature_columns, dnn_feature_columns, fm_group=("default_group",),
                 dnn_hidden_units=(256, 128, 64), l2_reg_linear=1e-5, l2_reg_embedding=1e-5,
                 l2_reg_dnn=0, seed=1024, dnn_dropout=0, dnn_activation="relu", dnn_use_bn=False,
                 task="binary"):
    """deepctr.models.DeepFM as fixed by #555: FM logits only for groups that have
    embeddings (0.9.4 adds a constant [[0]] without any, which fails on a batch), built from
    DeepCTR 0.9.4's own pieces."""
    from deepctr.layers.core import DNN, PredictionLayer
    from deepctr.layers.interaction import FM
    from deepctr.layers.utils import add_func, combined_dnn_input, concat_func
    from tensorflow.keras.layers import Dense
    from tensorflow.keras.models import Model
    features = dfc.build_input_features(linear_feature_columns + dnn_feature_columns)
    linear_logit = dfc.get_linear_logit(features, linear_feature_columns, seed=seed,
                                        prefix="linear", l2_reg=l2_reg_linear)
    groups, dense = dfc.input_from_feature_columns(features, dnn_feature_columns,
                                                   l2_reg_embedding, seed, support_group=True)
    fm_logits = [FM()(concat_func(v, axis=1)) for k, v in groups.items() if k in fm_group]
    deep = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn,
               seed=seed)(combined_dnn_input([e for v in groups.values() for e in v], dense))
    logit = add_func([linear_logit, Dense(1, use_bias=False)(deep)] + fm_logits)
    return Model(inputs=list(features.values()), outputs=PredictionLayer(task)(logit))


# models whose DeepCTR 0.9.4 code #555 changed
REFERENCE_MODELS = {"FNN": fixed_fnn, "DeepFM": fixed_deepfm}


@pytest.fixture(scope="module", autouse=True)
def upstream_fixes():
    """The #551 table fix in deepctr.inputs while this module runs (create_embedding_matrix,
    which every DeepCTR model calls, looks create_embedding_dict up there)."""
    import deepctr.inputs
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deepctr.inputs, "create_embedding_dict", fixed_create_embedding_dict)
        yield


# model (or "model: part") -> the largest absolute difference seen, for `make parity`'s table
MAX_DIFFERENCE = defaultdict(float)


def record(what, expected, got):
    """Notes the largest absolute difference of a comparison under `what`."""
    difference = float(np.max(np.abs(np.asarray(got, "float64") - np.asarray(expected))))
    MAX_DIFFERENCE[what] = max(MAX_DIFFERENCE[what], difference)


@pytest.fixture(scope="module", autouse=True)
def difference_table():
    """Prints the largest absolute difference per model at the end (shown with pytest -s, as
    `make parity` runs it)."""
    yield
    lines = [f"{'compared':<52} max abs difference"]
    lines += [f"{what:<52} {value:.2e}" for what, value in sorted(MAX_DIFFERENCE.items())]
    print(f"\nDeepCTR parity (reference: 0.9.4 + upstream {UPSTREAM_COMMIT[:7]}'s fixes)\n"
          + "\n".join(lines))


# ------------------------------------------------------------------------------------------
# columns and inputs

def columns(sparse=4, varlen=1, dense=1, groups=None, dim=DIM):
    """Our columns: `sparse` SparseFeats (vocab 5, 6, ...; group_name groups[i]), `varlen`
    VarLenSparseFeats of maxlen 3 and `dense` DenseFeats of dimension 2."""
    cols = [SparseFeat(f"s{i}", 5 + i, dim, group_name=groups[i] if groups else "default_group")
            for i in range(sparse)]
    cols += [VarLenSparseFeat(SparseFeat(f"v{i}", 6 + i, dim), 3, combiner)
             for i, combiner in zip(range(varlen), ("mean", "sum", "max"))]
    return cols + [DenseFeat(f"d{i}", 2) for i in range(dense)]


def din_columns(length_name="seq_length"):
    """DIN's columns: candidates item/cate, their histories hist_* sharing the tables."""
    return [SparseFeat("user", 5, DIM), SparseFeat("item", 7, DIM), SparseFeat("cate", 4, DIM)] + [
        VarLenSparseFeat(SparseFeat(f"hist_{name}", size, DIM, embedding_name=name), 4,
                         length_name=length_name) for name, size in (("item", 7), ("cate", 4))
    ] + [DenseFeat("d0", 2)]


def shared_name_columns():
    """Columns reading one table under several names (#551): s1 and the sequence v0 read s0's
    table, and s2 has a table named unlike any column."""
    return [SparseFeat("s0", 5, DIM), SparseFeat("s1", 5, DIM, embedding_name="s0"),
            SparseFeat("s2", 6, DIM, embedding_name="other"),
            VarLenSparseFeat(SparseFeat("v0", 5, DIM, embedding_name="s0"), 3, "sum"),
            DenseFeat("d0", 2)]


def to_deepctr(fc):
    """The same column as DeepCTR's namedtuple (DeepCTR's default initializer)."""
    if isinstance(fc, VarLenSparseFeat):
        return dfc.VarLenSparseFeat(to_deepctr(fc.sparsefeat), *fc[1:])
    if isinstance(fc, SparseFeat):
        return dfc.SparseFeat(**{**fc._asdict(), "embeddings_initializer": None})
    return dfc.DenseFeat(*fc)


def random_inputs(cols, seed=0):
    """A batch for `cols`: any id (0 included) for SparseFeats, 1..maxlen ids then padding for
    VarLenSparseFeats, uniform [-1, 1) dense values."""
    rng = np.random.RandomState(seed)
    x = {}
    for fc in cols:
        if isinstance(fc, VarLenSparseFeat):
            ids = rng.randint(1, fc.vocabulary_size, (BATCH, fc.maxlen))
            lengths = x.get(fc.length_name, rng.randint(1, fc.maxlen + 1, (BATCH, 1)))
            if fc.length_name:  # columns sharing a length input share the lengths
                x[fc.length_name] = lengths.astype("int32")
            x[fc.name] = np.where(np.arange(fc.maxlen) < lengths, ids, 0).astype("int32")
        elif isinstance(fc, SparseFeat):
            x[fc.name] = rng.randint(0, fc.vocabulary_size, (BATCH, 1)).astype("int32")
        else:
            x[fc.name] = rng.uniform(-1, 1, (BATCH, fc.dimension)).astype("float32")
    return x


def randomize_weights(model, seed=0, scale=0.5):
    """Every weight random (DeepCTR starts linear tables and biases at 0, embeddings at 1e-4:
    predictions would be ~0.5 whatever the copy did); BatchNorm variances stay positive."""
    rng = np.random.RandomState(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "moving_variance" in w.name
                       else rng.normal(0, scale, w.shape) for w in model.weights])


# ------------------------------------------------------------------------------------------
# the weight copy

def _deepctr_tables(model, cols):
    """(DeepCTR prefix, embedding_name) -> table of every DeepCTR Embedding layer."""
    embedding_names = {fc.name: fc.embedding_name for fc in cols if hasattr(fc, "embedding_name")}
    tables = {}
    for layer in model.layers:
        match = _TABLE.match(layer.name) if type(layer).__name__ == "Embedding" else None
        if match:
            name = re.sub(r"^\d+-", "", match["name"])  # DSIN: sparse_emb_<i>-<name>
            if match["seq"]:
                name = embedding_names.get(name, name)
            tables[(match["prefix"], name)] = layer.get_weights()[0]
    return tables


def _our_table_rows(layer_prefix, table, units, tables, used):
    """Our rows of `table` ([vocab, units]) from DeepCTR's table(s)."""
    name = table[len(layer_prefix):] if layer_prefix and table.startswith(layer_prefix) else table
    name = name.replace("_for_", "_")  # ONN: field i's table for partner j
    keys = [(DEEPCTR_PREFIX[layer_prefix].format(u=u, u1=u + 1), name) for u in range(units)]
    missing = [k for k in keys if k not in tables]
    if missing:
        raise KeyError(f"no DeepCTR table for our {layer_prefix!r} table {table!r}: {missing}; "
                       f"DeepCTR has {sorted(tables)}")
    used.update(keys)
    parts = [tables[k] for k in keys]
    return parts[0] if units == 1 or parts[0].shape[1] == units else np.concatenate(parts, 1)


def _role(layer, weight):
    """A weight's name without indices or the layer's own name: kernel0 -> kernel,
    regulation_module_1_field_weight -> field_weight, dense_0/bias -> bias."""
    name = weight.name.split(":")[0].rsplit("/", 1)[-1]
    layer_stem = re.sub(r"(?<!^)(?=[A-Z])", "_", type(layer).__name__).lower()
    name = re.sub(rf"^{layer_stem}(_\d+)?_", "", name)
    return re.sub(r"[\d_\-]+$", "", name)


def _name_key(layer):
    """The words of a layer's name: DeepCTR's level_0_task_ctr_expert_specific_0 and our
    level_0_ctr_expert_0 agree. (Automatic names such as dense_3 never agree: Keras numbers
    them across both models of a session.)"""
    return tuple(sorted(w for w in layer.name.split("_")
                        if w not in ("task", "specific", "softmax")))


def _take(sources, shape, what, name_key):
    """Our weight of `shape` from the unused DeepCTR weights `sources` ([array, used, name,
    layer name key] lists), those of a layer named like ours first."""
    free = sorted((s for s in sources if not s[1]), key=lambda s: s[3] != name_key)
    ways = [  # (which sources fit, how many are needed, how they make our weight)
        (lambda a: a.shape == shape, 1, lambda parts: parts[0]),
        (lambda a: a.size == int(np.prod(shape)), 1, lambda parts: parts[0].reshape(shape))]
    if shape:
        ways += [(lambda a: a.shape == shape[1:], shape[0], np.stack),
                 (lambda a: a.shape == shape[:-1] + (1,), shape[-1],
                  lambda parts: np.concatenate(parts, -1))]
    for fits, count, build in ways:
        chosen = [s for s in free if fits(s[0])][:count]
        if len(chosen) == count:
            for s in chosen:
                s[1] = True
            return build([s[0] for s in chosen])
    raise AssertionError(f"no DeepCTR weight fits our {what} {shape}; unused: "
                         f"{[s[0].shape for s in free]}")


def copy_deepctr_weights(deepctr_model, our_model, cols):
    """Copies DeepCTR's weights into our model (see the module docstring); returns the names
    of DeepCTR weights left unused (none when the models compute the same thing)."""
    tables = _deepctr_tables(deepctr_model, cols)
    used_tables = set()
    sources = defaultdict(list)  # (class, role) -> [[array, used, name, layer name key]]
    for layer in deepctr_model.layers:
        if type(layer).__name__ == "Embedding":
            continue
        for w, value in zip(layer.weights, layer.get_weights()):
            role = _role(layer, w)
            role = ROLE_ALIASES.get((type(layer).__name__, role), role)
            sources[(type(layer).__name__, role)].append([value, False, w.name,
                                                          _name_key(layer)])
    for layer in our_model.layers:
        kind = type(layer).__name__
        if kind == "FusedEmbedding":
            prefix = layer.name[:layer.name.index("emb_")]
            layer.set_weights([np.concatenate([
                _our_table_rows(prefix, table, layer.embedding_dim, tables, used_tables)
                for table in layer.table_names])])
            continue
        values, taken = [], {}  # taken: REUSED_ROLES key -> the value this layer took
        for w in layer.weights:
            source_kind = next((SUBLAYER_SOURCES[(kind, part)] for part in w.name.split("/")
                                if (kind, part) in SUBLAYER_SOURCES), kind)
            key = (source_kind, _role(layer, w))
            if key in taken:
                values.append(taken[key])
                continue
            values.append(_take(sources[key], tuple(w.shape), f"{kind} {w.name}",
                                _name_key(layer)))
            if key in REUSED_ROLES:
                taken[key] = values[-1]
        if values:
            layer.set_weights(values)
    unused = [f"table {k}" for k in set(tables) - used_tables]
    unused += [s[2] for group in sources.values() for s in group if not s[1]]
    return sorted(unused)


# ------------------------------------------------------------------------------------------
# building and comparing

def build_pair(name, cols, linear_cols=None, ours_name=None, reference=None, **kwargs):
    """(DeepCTR model, our model) from the same columns; MLR and PNN take their own arguments.
    `ours_name`: our model to compare with DeepCTR's `name` (default: the same name);
    `reference`: DeepCTR's model function (default: REFERENCE_MODELS', else deepctr's)."""
    linear_cols = cols if linear_cols is None else linear_cols
    if name in ("PNN", "DIN", "BST", "DSIN") + MULTITASK:
        args = (cols,)
    elif name == "MLR":
        args = (linear_cols,)
    else:
        args = (linear_cols, cols)
    to_ref = lambda value: ([to_deepctr(fc) for fc in value]
                            if isinstance(value, list) and value and hasattr(value[0], "_asdict")
                            else value)
    build_reference = reference or REFERENCE_MODELS.get(name) or getattr(dmodels, name)
    reference = build_reference(*map(to_ref, args), **{k: to_ref(v) for k, v in kwargs.items()})
    return reference, ours.get_model_fn(ours_name or name)(*args, **kwargs)


def predictions(model, x):
    out = model({k: x[k] for k in model.input_names}, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def assert_parity(name, cols, linear_cols=None, ours_name=None, reference=None, **kwargs):
    """Builds both models, copies DeepCTR's random weights into ours, and asserts that every
    weight was used and the predictions agree to ATOL. Returns both models and the input."""
    reference, model = build_pair(name, cols, linear_cols, ours_name, reference, **kwargs)
    randomize_weights(reference)
    all_cols = list(cols) + list(linear_cols or [])
    unused = copy_deepctr_weights(reference, model, all_cols)
    assert not unused, f"{name}: DeepCTR weights with no counterpart in ours: {unused}"
    x = random_inputs(all_cols)
    expected, got = predictions(reference, x), predictions(model, x)
    for e, g in zip(expected, got):
        assert np.std(e) > 1e-3, f"{name}: DeepCTR's predictions are constant: {e.ravel()}"
        record(name if ours_name is None else f"{name} 0.9.4 = our {ours_name}", e, g)
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0, err_msg=f"{name} {kwargs}")
    return reference, model, x


# AFM, CCPM, DIFM, IFM: no DenseFeat in the DNN part (DeepCTR raises or drops them); dense
# features still feed the linear part. EDCN, FGCNN: DeepCTR builds its inputs from the dnn
# columns only, so the linear columns must be among them.
SPARSE_ONLY = dict(cols=columns(dense=0), linear_cols=columns())
SPARSE = dict(cols=columns(dense=0))
CASES = {
    "AFM": [dict(SPARSE_ONLY), dict(SPARSE_ONLY, use_attention=False)],
    "AutoInt": [dict(att_layer_num=2, dnn_hidden_units=HIDDEN, att_head_num=2),
                dict(att_layer_num=1, dnn_hidden_units=(), att_res=False),
                dict(att_layer_num=0, dnn_hidden_units=HIDDEN, dnn_use_bn=True)],
    "CCPM": [dict(SPARSE_ONLY, conv_kernel_width=(3, 2), conv_filters=(2, 3),
                  dnn_hidden_units=HIDDEN),
             dict(SPARSE_ONLY, conv_kernel_width=(2,), conv_filters=(2,), dnn_hidden_units=())],
    "DCN": [dict(dnn_hidden_units=HIDDEN),
            dict(cross_parameterization="matrix", dnn_hidden_units=HIDDEN),
            dict(cross_num=0, dnn_hidden_units=HIDDEN), dict(cross_num=3, dnn_hidden_units=())],
    "DCNMix": [dict(low_rank=3, num_experts=2, dnn_hidden_units=HIDDEN),
               dict(low_rank=3, num_experts=3, cross_num=1, dnn_hidden_units=())],
    "DeepFEFM": [dict(dnn_hidden_units=HIDDEN),
                 dict(dnn_hidden_units=HIDDEN, exclude_feature_embed_in_dnn=True),
                 dict(dnn_hidden_units=HIDDEN, use_fefm_embed_in_dnn=False, use_linear=False),
                 dict(dnn_hidden_units=(), use_fefm=True)],
    "DeepFM": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=HIDDEN, dnn_use_bn=True),
               dict(dnn_hidden_units=()),
               dict(cols=columns(groups=["a", "b", "a", "b"]), fm_group=["a", "b"],
                    dnn_hidden_units=HIDDEN),
               dict(case="dense_only", cols=columns(sparse=0, varlen=0, dense=2),
                    dnn_hidden_units=HIDDEN),
               dict(case="shared_embedding_name", cols=shared_name_columns(),
                    dnn_hidden_units=HIDDEN)],
    "DIFM": [dict(SPARSE_ONLY, dnn_hidden_units=HIDDEN, att_head_num=2)],
    "EDCN": [dict(SPARSE, bridge_type=bridge)
             for bridge in ("concatenation", "pointwise_addition", "hadamard_product",
                            "attention_pooling")]
            + [dict(SPARSE, cross_parameterization="matrix", cross_num=1)],
    "FGCNN": [dict(SPARSE, conv_kernel_width=(3, 2), conv_filters=(2, 3), new_maps=(2, 1),
                   pooling_width=(2, 1), dnn_hidden_units=HIDDEN)],
    "FiBiNET": [dict(bilinear_type=kind, dnn_hidden_units=HIDDEN)
                for kind in ("interaction", "each", "all")],
    "FLEN": [dict(cols=columns(groups=["user", "item", "user", "ctx"]), dnn_hidden_units=HIDDEN)],
    "FNN": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=()),
            dict(case="linear_only_column", linear_cols=columns(sparse=5),
                 dnn_hidden_units=HIDDEN)],
    "FwFM": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=())],
    "IFM": [dict(SPARSE_ONLY, dnn_hidden_units=HIDDEN)],
    "MLR": [dict(region_num=3), dict(linear_cols=columns(sparse=2, varlen=0),
                                     base_feature_columns=columns(sparse=3, varlen=0)),
            dict(bias_feature_columns=columns(sparse=1, varlen=0, dense=0))],
    "NFM": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=())],
    "ONN": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=HIDDEN, reduce_sum=True),
            dict(dnn_hidden_units=HIDDEN, use_bn=False)],
    "PNN": [dict(dnn_hidden_units=HIDDEN, use_inner=True, use_outter=False),
            dict(dnn_hidden_units=HIDDEN, use_inner=False, use_outter=True, kernel_type="mat"),
            dict(dnn_hidden_units=HIDDEN, use_inner=True, use_outter=True, kernel_type="vec"),
            dict(dnn_hidden_units=HIDDEN, use_inner=False, use_outter=True, kernel_type="num"),
            dict(dnn_hidden_units=())],
    "WDL": [dict(dnn_hidden_units=HIDDEN), dict(dnn_hidden_units=())],
    "xDeepFM": [dict(dnn_hidden_units=HIDDEN, cin_layer_size=(4, 2)),
                dict(dnn_hidden_units=HIDDEN, cin_layer_size=(3, 1), cin_split_half=False,
                     cin_activation="linear"),
                dict(dnn_hidden_units=(), cin_layer_size=(4, 2)),
                dict(dnn_hidden_units=HIDDEN, cin_layer_size=()),
                dict(dnn_hidden_units=(), cin_layer_size=())],
    # multi-task: expert, gate and tower widths differ, so no two weights of a role share a shape
    "SharedBottom": [dict(bottom_dnn_hidden_units=(6,), tower_dnn_hidden_units=(5,)),
                     dict(bottom_dnn_hidden_units=(6,), tower_dnn_hidden_units=(),
                          task_types=("binary", "regression", "binary"),
                          task_names=("a", "b", "c"))],
    "ESMM": [dict(tower_dnn_hidden_units=(6, 5))],
    "MMOE": [dict(num_experts=3, expert_dnn_hidden_units=(6,), tower_dnn_hidden_units=(5,),
                  gate_dnn_hidden_units=(4,)),
             dict(num_experts=2, expert_dnn_hidden_units=(6,), tower_dnn_hidden_units=(),
                  gate_dnn_hidden_units=())],
    "DIN": [dict(cols=din_columns(), history_feature_list=["item", "cate"],
                 dnn_hidden_units=HIDDEN, att_hidden_size=(4, 3)),
            dict(cols=din_columns(None), history_feature_list=["item"], dnn_hidden_units=(),
                 att_hidden_size=(4,), att_activation="sigmoid", att_weight_normalization=True),
            dict(cols=din_columns(), history_feature_list=["item", "cate"],
                 dnn_hidden_units=HIDDEN, dnn_use_bn=True, att_hidden_size=(4, 3))],
    "PLE": [dict(shared_expert_num=2, specific_expert_num=1, num_levels=2,
                 expert_dnn_hidden_units=(6,), tower_dnn_hidden_units=(5,),
                 gate_dnn_hidden_units=(4,)),
            dict(shared_expert_num=1, specific_expert_num=2, num_levels=1,
                 expert_dnn_hidden_units=(6,), tower_dnn_hidden_units=(5,))],
}


def _case_id(name, options):
    if "case" in options:
        return f"{name}-{options['case']}"
    shown = {k: v for k, v in options.items() if not k.endswith("cols")
             and not k.endswith("feature_columns")}
    return name + "-" + ",".join(f"{k}={v}" for k, v in shown.items()).replace(" ", "")


PARAMS = [pytest.param(name, options, id=_case_id(name, options))
          for name, cases in CASES.items() for options in cases]


@pytest.mark.parametrize("name,options", PARAMS)
def test_same_predictions_as_deepctr(name, options):
    options = dict(options)
    options.pop("case", None)
    cols = options.pop("cols", columns())
    assert_parity(name, cols, options.pop("linear_cols", None),
                  **options)


def test_every_model_is_compared():
    """All 29: the 21 CTR models, the 4 multi-task models and DIN model against model (CASES);
    BST, DSIN and DIEN in the section at the end (DIEN layer by layer)."""
    compared = set(CASES) | {"BST", "DSIN", "DIEN"}
    assert compared == set(ours.MODEL_NAMES)
    assert len(compared) == 21 + len(MULTITASK) + 4


@pytest.mark.parametrize("dnn_hidden_units", [HIDDEN, ()])
def test_deepctr_0_9_4_fnn_is_our_wdl(dnn_hidden_units):
    """The FNN of the 0.9.4 release (installed, unpatched: #555 removed its linear logit) is WDL:
    what FNN's docstring tells users with weights of the old FNN to build."""
    assert_parity("FNN", columns(), ours_name="WDL", reference=dmodels.FNN,
                  dnn_hidden_units=dnn_hidden_units)


# ------------------------------------------------------------------------------------------
# deliberate differences (in the models' docstrings and README's "Coming from DeepCTR")

@pytest.mark.parametrize("name,options", [
    ("IFM", {}), ("DIFM", dict(att_head_num=2)),
    ("FGCNN", dict(conv_kernel_width=(2,), conv_filters=(2,), new_maps=(1,),
                   pooling_width=(2,)))])
def test_dense_features_reach_our_dnn_but_not_deepctrs(name, options):
    """DeepCTR's IFM, DIFM and FGCNN silently drop the DenseFeats of dnn_feature_columns; ours
    feed them to the DNN. (Without dense dnn columns the models agree: see the parity cases.)"""
    cols = columns()  # d0 only in the dnn columns
    reference, model = build_pair(name, cols, columns(dense=0), dnn_hidden_units=HIDDEN,
                                  **options)
    randomize_weights(reference)
    randomize_weights(model)
    x = random_inputs(cols)
    moved = dict(x, d0=x["d0"] + 1)
    np.testing.assert_array_equal(predictions(reference, moved)[0], predictions(reference, x)[0])
    assert np.abs(predictions(model, moved)[0] - predictions(model, x)[0]).max() > 1e-3


def varlen_first(cols):
    """The same columns with the VarLenSparseFeats listed first."""
    return ([fc for fc in cols if isinstance(fc, VarLenSparseFeat)]
            + [fc for fc in cols if not isinstance(fc, VarLenSparseFeat)])


@pytest.mark.parametrize("name,groups,kwargs", [
    ("DeepFM", None, {}), ("DeepFM", ["a", "b", "a", "b"], {}), ("AutoInt", None, {}),
    ("ONN", None, {}), ("FiBiNET", None, {}),
    ("IFM", None, dict(cols=columns(dense=0))), ("DIFM", None, dict(cols=columns(dense=0),
                                                                   att_head_num=2))])
def test_field_order_when_a_varlen_column_comes_first(name, groups, kwargs):
    """DeepCTR embeds the SparseFeats of a group before its VarLenSparseFeats (groups in order
    of first appearance), whatever the listed order; the DNN input, the field-pair products
    (ONN) and the per-field factors (IFM, DIFM) depend on that order."""
    cols = varlen_first(kwargs.pop("cols", columns(groups=groups)))
    linear_cols = varlen_first(columns(groups=groups)) if name in ("IFM", "DIFM") else None
    assert_parity(name, cols, linear_cols, dnn_hidden_units=HIDDEN, **kwargs)


# ------------------------------------------------------------------------------------------
# BST, DSIN and DIEN: what should be equal is compared; what differs on purpose is measured
# (their docstrings and layers.sequence.Transformer's list the differences)

def sequence_pair(name, cols, reference_cols=None, **kwargs):
    """(DeepCTR model from `reference_cols` (default `cols`), our model from `cols`) with
    DeepCTR's random weights copied into ours (every one used)."""
    reference = getattr(dmodels, name)([to_deepctr(fc) for fc in reference_cols or cols],
                                       **kwargs)
    model = ours.get_model_fn(name)(cols, **kwargs)
    randomize_weights(reference)
    unused = copy_deepctr_weights(reference, model, cols)
    assert not unused, f"{name}: DeepCTR weights with no counterpart in ours: {unused}"
    return reference, model


def assert_rows_agree(what, reference, model, x, rows=slice(None)):
    """Both models' predictions agree to ATOL on `rows` of `x` (and vary: not a constant)."""
    expected, got = predictions(reference, x)[0][rows], predictions(model, x)[0][rows]
    assert np.std(expected) > 1e-3, f"{what}: DeepCTR's predictions are constant"
    record(what, expected, got)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0, err_msg=what)


def measured_difference(what, reference, model, x, rows):
    """Records (for the table) how far the predictions on `rows` are apart; returns it."""
    record(what, predictions(reference, x)[0][rows], predictions(model, x)[0][rows])
    return MAX_DIFFERENCE[what]


def without_padding(x, cols, count_input=None, sessions=None):
    """`x` with every sequence full: no id 0, lengths (and the session count) at their maxima."""
    x = dict(x)
    for fc in cols:
        if isinstance(fc, VarLenSparseFeat):
            x[fc.name] = np.where(x[fc.name] == 0, 1, x[fc.name])
            if fc.length_name:
                x[fc.length_name] = np.full((BATCH, 1), fc.maxlen, "int32")
    if count_input:
        x[count_input] = np.full((BATCH, 1), sessions, "int32")
    return x


@pytest.mark.parametrize("transformer_num", [1, 2])
def test_bst_same_predictions_as_deepctr(transformer_num):
    """Our BST, with the history's seq_length declared (DeepCTR reads that input whatever the
    columns say), is DeepCTR's: the Transformer (padding never reaches the pooled output: the
    attention pooling masks it) and the attention pooling, on histories of 1..maxlen items."""
    reference, model = sequence_pair("BST", din_columns(), history_feature_list=["item", "cate"],
                                     transformer_num=transformer_num, att_head_num=2,
                                     dnn_hidden_units=HIDDEN)
    assert_rows_agree("BST", reference, model, random_inputs(din_columns()))


def test_bst_empty_history_differs_on_purpose():
    """A row without history: our Transformer and pooling give it zero attention weights,
    DeepCTR's spread them over the padding (Transformer's docstring). Measured, not equal."""
    reference, model = sequence_pair("BST", din_columns(), history_feature_list=["item", "cate"],
                                     att_head_num=2, dnn_hidden_units=HIDDEN)
    x = random_inputs(din_columns())
    empty = np.arange(BATCH) % 2 == 0
    x["seq_length"][empty] = 0
    for name in ("hist_item", "hist_cate"):
        x[name][empty] = 0
    assert_rows_agree("BST", reference, model, x, ~empty)
    assert measured_difference("BST: empty history (on purpose)", reference, model, x,
                               empty) > ATOL


def dsin_columns(sessions=2, length_name=None):
    """DSIN's columns: candidates item/cate, `sessions` sessions of 3 steps each reading their
    tables, and the declared session count sess_length (DeepCTR makes it a hidden input)."""
    return [SparseFeat("user", 5, DIM), SparseFeat("item", 7, DIM), SparseFeat("cate", 4, DIM)] + [
        VarLenSparseFeat(SparseFeat(f"sess_{i}_{name}", size, DIM, embedding_name=name), 3,
                         length_name=length_name)
        for i in range(sessions) for name, size in (("item", 7), ("cate", 4))
    ] + [DenseFeat("d0", 2), DenseFeat("sess_length", 1, dtype="int32")]


def dsin_pair(sessions=2, **kwargs):
    """DSIN in DeepCTR and here; DeepCTR's columns lack sess_length (it adds the input itself
    and would feed a declared one to its DNN)."""
    cols = dsin_columns(sessions)
    return sequence_pair("DSIN", cols, [fc for fc in cols if fc.name != "sess_length"],
                         sess_feature_list=["item", "cate"], sess_max_count=sessions,
                         att_embedding_size=2, att_head_num=4, dnn_hidden_units=HIDDEN, **kwargs)


@pytest.mark.parametrize("bias_encoding", [False, True])
def test_dsin_same_predictions_as_deepctr_without_padding(bias_encoding):
    """Full sessions of full length: session division, the shared Transformer, the BiLSTM over
    sessions and both attention poolings are DeepCTR's, weight for weight."""
    reference, model = dsin_pair(bias_encoding=bias_encoding)
    x = without_padding(random_inputs(dsin_columns()), dsin_columns(), "sess_length", 2)
    assert_rows_agree("DSIN (no padding)", reference, model, x)


def test_dsin_padding_differs_on_purpose():
    """Padded steps: our session interest averages the valid steps only (DeepCTR: all maxlen
    steps); an empty session is skipped by our BiLSTM (DeepCTR runs it over it). Measured."""
    reference, model = dsin_pair(sessions=3)
    cols = dsin_columns(3)
    full = without_padding(random_inputs(cols), cols, "sess_length", 3)
    padded = random_inputs(cols)  # 1..3 valid steps per session
    padded["sess_length"] = np.full((BATCH, 1), 3, "int32")
    assert measured_difference("DSIN: padded steps (on purpose)", reference, model, padded,
                               slice(None)) > ATOL
    one_session = dict(full, sess_length=np.full((BATCH, 1), 1, "int32"))
    for i in (1, 2):
        for name in ("item", "cate"):
            one_session[f"sess_{i}_{name}"] = np.zeros_like(full[f"sess_{i}_{name}"])
    assert measured_difference("DSIN: empty sessions (on purpose)", reference, model,
                               one_session, slice(None)) > ATOL


@pytest.mark.parametrize("return_score", [True, False])
def test_dien_attention_same_as_deepctr(return_score):
    """DIEN's attention over the interest states (Dice activation, softmax weights; scores
    for AIGRU/AGRU/AUGRU, pooled states for GRU), on masked sequences: DeepCTR's layer and
    ours with copied weights. (DeepCTR's DIEN model needs TF1's contrib dynamic_rnn, which does
    not build in TF 2.16's Keras, so DIEN is compared layer by layer.)"""
    from deepctr.layers.sequence import AttentionSequencePoolingLayer as DeepCTRAttention
    from ctr_models.layers.sequence import AttentionSequencePoolingLayer
    import tf_keras as keras

    def attention_model(layer_class):
        query, keys = keras.Input((1, 2 * DIM)), keras.Input((4, 2 * DIM))
        out = layer_class((4, 3), "dice", weight_normalization=True, return_score=return_score,
                          supports_masking=True)([query, keras.layers.Masking(0.0)(keys)])
        return keras.Model([query, keys], out)

    reference, model = attention_model(DeepCTRAttention), attention_model(
        AttentionSequencePoolingLayer)
    randomize_weights(reference)
    assert not copy_deepctr_weights(reference, model, [])
    rng = np.random.RandomState(0)
    query = rng.normal(size=(BATCH, 1, 2 * DIM)).astype("float32")
    keys = rng.normal(size=(BATCH, 4, 2 * DIM)).astype("float32")
    keys[np.arange(4)[None, :] >= rng.randint(1, 5, (BATCH, 1))] = 0  # 1..4 valid steps
    expected = reference([query, keys], training=False).numpy()
    got = model([query, keys], training=False).numpy()
    assert np.std(expected) > 1e-3
    record("DIEN: attention (layer)", expected, got)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


def deepctr_gru_states(x, lengths, seed=0):
    """DeepCTR's DynamicGRU(gru_type='GRU') over `x` [B, T, D] (all states, [B, T, D]) with
    random weights, run as DeepCTR needs: in a TF1 graph and session, its contrib dynamic_rnn
    given the five TensorFlow internals that TF 2.16 moved (patched for this call only).
    Returns (states, {'gates/kernel': ..., 'gates/bias': ..., 'candidate/...': ...})."""
    import tensorflow as tf
    from deepctr.layers.sequence import DynamicGRU as DeepCTRGRU
    from tensorflow.python.ops import array_ops, control_flow_ops
    from tensorflow.python.util import nest
    rng = np.random.RandomState(seed)
    with pytest.MonkeyPatch.context() as patch, tf.Graph().as_default():
        patch.setattr(array_ops, "stack", tf.stack, raising=False)
        patch.setattr(array_ops, "unstack", tf.unstack, raising=False)
        patch.setattr(control_flow_ops, "Assert", tf.debugging.Assert, raising=False)
        patch.setattr(nest, "is_sequence", nest.is_nested, raising=False)
        patch.setattr(control_flow_ops, "while_loop", tf.while_loop, raising=False)
        states = DeepCTRGRU(x.shape[-1], gru_type="GRU", return_sequence=True)(
            [tf.constant(x), tf.constant(lengths)])
        variables = tf.compat.v1.global_variables()
        values = {"/".join(v.name.split(":")[0].split("/")[-2:]):
                  rng.normal(0, 0.5, v.shape).astype("float32") for v in variables}
        with tf.compat.v1.Session() as session:
            session.run([v.assign(values["/".join(v.name.split(":")[0].split("/")[-2:])])
                         for v in variables])
            return session.run(states), values


def test_dien_gru_differs_by_the_reset_gate_only():
    """DIEN's interest extractor (and gru_type='GRU' evolution) against DeepCTR's DynamicGRU,
    weights mapped: DeepCTR's TF1 GRUCell keeps h by its gate u (ours: the candidate's share,
    so ours takes -u's weights), and its reset gate multiplies h before the recurrent matmul
    (ours after, the paper's eq. 3: layers.recurrent). At the first step (h = 0) the reset gate
    has no effect, so it must agree; the later steps' difference is the reset placement,
    measured. AGRU/AUGRU are not compared: their gates differ on purpose (DIEN's docstring)."""
    import tensorflow as tf
    from ctr_models.layers.recurrent import DynamicGRU
    dim, steps = 2 * DIM, 4
    rng = np.random.RandomState(1)
    x = rng.normal(size=(BATCH, steps, dim)).astype("float32")
    lengths = rng.randint(2, steps + 1, (BATCH, 1)).astype("int32")
    expected, weights = deepctr_gru_states(x, lengths)
    gates, gates_bias = weights["gates/kernel"], weights["gates/bias"]  # [x; h] -> [r, u]
    candidate, candidate_bias = weights["candidate/kernel"], weights["candidate/bias"]
    reset, update = gates[:, :dim], gates[:, dim:]
    ours_gru = DynamicGRU(gru_type="GRU")
    ours_gru([tf.constant(x), tf.constant(lengths)])
    ours_gru.set_weights([  # (update, reset, candidate) blocks of the input, recurrent, bias
        np.concatenate([-update[:dim], reset[:dim], candidate[:dim]], 1),
        np.concatenate([-update[dim:], reset[dim:], candidate[dim:]], 1),
        np.concatenate([-gates_bias[dim:], gates_bias[:dim], candidate_bias])])
    got = ours_gru([tf.constant(x), tf.constant(lengths)]).numpy()
    record("DIEN: GRU first step (layer)", expected[:, 0], got[:, 0])
    np.testing.assert_allclose(got[:, 0], expected[:, 0], atol=ATOL, rtol=0)
    later = np.arange(1, steps)[None, :] < lengths  # the valid steps after the first
    assert measured_difference_of("DIEN: GRU later steps (reset placement, on purpose)",
                                  expected[:, 1:][later], got[:, 1:][later]) > ATOL


def measured_difference_of(what, expected, got):
    """Records how far two arrays are apart (for the table); returns it."""
    record(what, expected, got)
    return MAX_DIFFERENCE[what]
