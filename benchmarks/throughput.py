"""Trainer throughput: `python -m benchmarks.throughput` (`make bench` runs it with the others).

Trainer throughput against DeepCTR 0.9.4. Generated Criteo-format rows with realistic
vocabularies (26 fields of 50 to 20,000 values, larger fields where the default generator has
larger ones) are encoded like the pipeline does (per-field ids, OOV = 1, ids kept when seen at
least twice in the training split; log + min-max scaled dense values) and trained with DeepFM
(DeepCTR defaults: dim 4, DNN 256-128-64, l2 1e-5 on embeddings and linear weights), in one
process, settings interleaved, on the same rows:

  deepctr        DeepCTR 0.9.4's DeepFM, Adam, fed from memory (numpy arrays, `fit(x, y)`)
  ours           ctr_models DeepFM, Adam, from memory
  ours_per_field ours with one table and one gather per field (`embedding_fusion(False)`,
                 DeepCTR's layout) instead of the fused table
  ours_lazy      ours with the Trainer's `optimizer: lazy_adam` and l2_reg_embedding =
                 l2_reg_linear = 0 (a whole-table L2 term makes the table gradient dense, so the
                 lazy row update only engages without it)
  ours_adam_nol2 ours with Adam and l2 0 (separates the lazy update from dropping the L2 term)
  trainer        ours (Adam) on the Trainer's own input path: the rows written once as
                 transformed tf.Examples (TFRecord), read by components.trainer.make_dataset over
                 TFXIO (what the Trainer's data_accessor.tf_dataset_factory does), `fit` with
                 steps_per_epoch
  trainer_cache  as trainer, parsed batches cached in memory after the first pass
                 (make_dataset's `cache=True`)

Each setting trains 1 + `--epochs` epochs in one `fit`; the first (tracing, warm-up, cache fill)
is discarded and throughput is training rows per second over the others. Eval AUC is computed
on a held-out 10 % after those same epochs. Prints a Markdown table.
"""
import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

VARIANTS = ("deepctr", "ours", "ours_per_field", "ours_lazy", "ours_adam_nol2", "trainer",
            "trainer_cache")
DEFAULT_VARIANTS = ("deepctr", "ours", "ours_lazy", "trainer", "trainer_cache")


def realistic_vocab_sizes(low=50, high=20_000):
    """26 sizes spread geometrically from `low` to `high`, assigned to the fields in the order
    of the default generator's sizes (its largest field gets `high`)."""
    from data import generators
    ranks = np.argsort(np.argsort(generators.CRITEO_VOCAB_SIZES, kind="stable"), kind="stable")
    return tuple(int(s) for s in np.round(np.geomspace(low, high, 26))[ranks])


def criteo_arrays(rows, seed=0, vocab_sizes=None, eval_fraction=0.1):
    """(x_train, y_train, x_eval, y_eval, info): generated rows encoded like the pipeline
    (vocabularies from the training split only)."""
    from data.generators import CRITEO_DENSE, CRITEO_SPARSE, generate_criteo
    df, info = generate_criteo(rows, seed=seed, vocab_sizes=vocab_sizes)
    n_train = rows - int(rows * eval_fraction)
    x = {}
    for c in CRITEO_SPARSE:
        values = df[c].fillna("")
        counts = values[:n_train].value_counts()
        ids = {k: i + 2 for i, k in enumerate(counts[counts >= 2].index)}
        x[c] = values.map(ids).fillna(1).astype("int64").to_numpy().reshape(-1, 1)
    for c in CRITEO_DENSE:
        v = df[c].astype(float).fillna(0).to_numpy()
        v = np.sign(v) * np.log1p(np.abs(v))
        lo, hi = v[:n_train].min(), v[:n_train].max()
        x[c] = np.clip((v - lo) / (hi - lo + 1e-12), 0, 1).astype("float32").reshape(-1, 1)
    y = df["label"].to_numpy().astype("float32").reshape(-1, 1)
    train = {k: v[:n_train] for k, v in x.items()}
    evaluation = {k: v[n_train:] for k, v in x.items()}
    return train, y[:n_train], evaluation, y[n_train:], info


def write_transformed(x, y, folder, files=4):
    """Writes (x, y) as transformed-like tf.Examples into `files` gzip-less TFRecord files;
    returns (file pattern, schema)."""
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils
    n = len(y)
    names = list(x)
    for f in range(files):
        with tf.io.TFRecordWriter(os.path.join(folder, f"part-{f:05d}.tfrecord")) as writer:
            for i in range(f, n, files):
                feature = {"label": tf.train.Feature(float_list=tf.train.FloatList(value=y[i]))}
                for k in names:
                    v = x[k][i]
                    feature[k] = (tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                                  if v.dtype.kind == "i" else
                                  tf.train.Feature(float_list=tf.train.FloatList(value=v)))
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=feature)).SerializeToString())
    spec = {"label": tf.io.FixedLenFeature([1], tf.float32)}
    spec.update({k: tf.io.FixedLenFeature([1], tf.int64 if x[k].dtype.kind == "i"
                                          else tf.float32) for k in names})
    return os.path.join(folder, "part-*.tfrecord"), schema_utils.schema_from_feature_spec(spec)


class _TFXIOAccessor:
    """What the Trainer's fn_args.data_accessor does for TFRecords of tf.Examples."""

    @staticmethod
    def tf_dataset_factory(file_pattern, options, schema):
        from tfx_bsl.public import tfxio
        return tfxio.TFExampleRecord(file_pattern, schema=schema).TensorFlowDataset(options)


class _EpochTimer:
    def __init__(self):
        import tf_keras as keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.start = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                self.seconds.append(time.perf_counter() - cb.start)

        self.seconds = []
        self.callback = Timer()


def _columns(x, vocab, deepctr):
    if deepctr:
        from benchmarks.deepctr_reference import import_deepctr
        import_deepctr()  # without its call to pypi.org
        from deepctr.feature_column import DenseFeat, SparseFeat
        return [SparseFeat(k, vocab[k], 4) if v.dtype.kind == "i" else DenseFeat(k, 1)
                for k, v in x.items()]
    from ctr_models.feature_column import DenseFeat, SparseFeat
    return [SparseFeat(k, vocab[k], 4, dtype="int64") if v.dtype.kind == "i" else DenseFeat(k, 1)
            for k, v in x.items()]


def run_variant(variant, data, batch_size, epochs, records=None):
    """(examples/s over the steady-state epochs, eval AUC after 1 + epochs epochs)."""
    import tf_keras as keras
    from sklearn.metrics import roc_auc_score
    from components.trainer import compile_model, make_dataset
    x, y, x_eval, y_eval, vocab = data
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    deepctr = variant == "deepctr"
    columns = _columns(x, vocab, deepctr)
    l2 = 0.0 if variant in ("ours_lazy", "ours_adam_nol2") else 1e-5
    if deepctr:
        from deepctr.models import DeepFM
    else:
        from ctr_models.models import DeepFM
    from ctr_models.inputs import embedding_fusion
    with embedding_fusion(variant != "ours_per_field"):
        model = DeepFM(columns, columns, l2_reg_linear=l2, l2_reg_embedding=l2)
    label = SimpleNamespace(name="label", task="binary", loss_weight=1.0)
    spec = SimpleNamespace(labels=[label], label_names=["label"])
    # The Trainer's compile (one binary label: binary cross-entropy, AUC + logloss metrics).
    compile_model(model, spec, 1e-3, optimizer="lazy_adam" if variant == "ours_lazy" else "adam")
    timer = _EpochTimer()
    if variant.startswith("trainer"):
        pattern, schema = records
        dataset = make_dataset(pattern, _TFXIOAccessor(),
                               SimpleNamespace(transformed_metadata=SimpleNamespace(schema=schema)),
                               spec, batch_size, [i.name for i in model.inputs],
                               cache=variant == "trainer_cache")
        steps = len(y) // batch_size
        model.fit(dataset, epochs=1 + epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=[timer.callback])
        examples = steps * batch_size
    else:
        x_in = {k: v.astype("int32") if deepctr and v.dtype.kind == "i" else v
                for k, v in x.items()}
        model.fit(x_in, y, batch_size=batch_size, epochs=1 + epochs, verbose=0,
                  callbacks=[timer.callback])
        examples = len(y)
    x_eval = {k: v.astype("int32") if deepctr and v.dtype.kind == "i" else v
              for k, v in x_eval.items()}
    p = model.predict(x_eval, batch_size=8192, verbose=0).ravel()
    return examples * epochs / sum(timer.seconds[1:]), roc_auc_score(y_eval.ravel(), p)


def _load():
    try:
        return "%.1f / %.1f / %.1f" % os.getloadavg()
    except OSError:
        return "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000,
                        help="generated rows (10 %% held out for eval AUC); the issue's size: "
                             "200000")
    parser.add_argument("--epochs", type=int, default=2,
                        help="timed epochs per setting, after one discarded epoch")
    parser.add_argument("--batch-sizes", default="256,4096")
    parser.add_argument("--repeats", type=int, default=1,
                        help="interleaved rounds; the best throughput of each setting counts")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--vocab-max", type=int, default=20_000,
                        help="largest field's vocabulary (smallest: 50)")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    import tensorflow as tf
    from ctr_models.tracing import skip_autograph_of_graph_safe_code
    skip_autograph_of_graph_safe_code()
    load_before = _load()
    sizes = realistic_vocab_sizes(50, args.vocab_max)
    x, y, x_eval, y_eval, info = criteo_arrays(args.rows, vocab_sizes=sizes)
    vocab = {k: int(max(v.max(), x_eval[k].max())) + 1 for k, v in x.items() if v.dtype.kind == "i"}
    data = (x, y, x_eval, y_eval, vocab)
    folder = tempfile.mkdtemp(prefix="ctr-bench-")
    records = (write_transformed(x, y, folder)
               if any(v.startswith("trainer") for v in variants) else None)
    results = {}
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        for _ in range(args.repeats):  # interleaved, so machine noise hits every setting alike
            for variant in variants:
                speed, auc = run_variant(variant, data, batch, args.epochs, records)
                best = results.get((batch, variant))
                if best is None or speed > best[0]:
                    results[(batch, variant)] = (speed, auc)
    command = "python -m benchmarks.throughput " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:]))
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"Trainer throughput vs DeepCTR 0.9.4, {now}: `{command}`")
    print(f"{args.rows:,} generated Criteo-format rows ({len(y):,} train / {len(y_eval):,} eval), "
          f"26 fields of 50-{args.vocab_max:,} values ({sum(vocab.values()):,} table rows after "
          f"encoding), oracle AUC {info['oracle_auc']:.4f}; DeepFM dim 4, DNN 256-128-64; "
          f"{1 + args.epochs} epochs, first discarded, best of {args.repeats}; "
          f"TF {tf.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average before {load_before}, after {_load()}")
    print()
    print("| batch | setting | examples/s | vs deepctr | eval AUC | AUC - deepctr |")
    print("|--:|:--|--:|--:|--:|--:|")
    for (batch, variant), (speed, auc) in results.items():
        base = results.get((batch, "deepctr"))
        ratio = f"{speed / base[0]:.2f}x" if base else ""
        delta = f"{auc - base[1]:+.4f}" if base else ""
        print(f"| {batch} | {variant} | {speed:,.0f} | {ratio} | {auc:.4f} | {delta} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
