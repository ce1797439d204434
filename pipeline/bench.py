"""Benchmarks: `python -m pipeline.bench` (or `make bench`).

Training throughput of ctr_models DeepFM on in-memory Criteo-format arrays, fused embedding
tables (one variable, one gather: the default) against one table and one gather per field
(DeepCTR's layout), measured in the same process on the same data; steady-state epochs only
(the first epoch, which includes tracing, is discarded). Prints a Markdown table.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def criteo_arrays(rows, seed=0):
    """Generated Criteo-format rows encoded like the pipeline does: per-field ids (OOV = 1,
    threshold 2), log + min-max scaled dense values."""
    from data.generators import CRITEO_DENSE, CRITEO_SPARSE, generate_criteo
    df, info = generate_criteo(rows, seed=seed)
    x = {}
    for c in CRITEO_SPARSE:
        values = df[c].fillna("")
        counts = values.value_counts()
        ids = {k: i + 2 for i, k in enumerate(counts[counts >= 2].index)}
        x[c] = values.map(ids).fillna(1).astype("int32").to_numpy().reshape(-1, 1)
    for c in CRITEO_DENSE:
        v = df[c].astype(float).fillna(0).to_numpy()
        v = np.sign(v) * np.log1p(np.abs(v))
        x[c] = ((v - v.min()) / (v.max() - v.min() + 1e-12)).astype("float32").reshape(-1, 1)
    return x, df["label"].to_numpy().astype("float32").reshape(-1, 1), info


def throughput(x, y, fused, batch_size, epochs, jit_compile=False):
    import tf_keras as keras
    from ctr_models.feature_column import DenseFeat, SparseFeat
    from ctr_models.inputs import embedding_fusion
    from ctr_models.models import DeepFM
    keras.backend.clear_session()
    columns = [SparseFeat(k, int(v.max()) + 1, 4) if v.dtype == np.int32 else DenseFeat(k, 1)
               for k, v in x.items()]
    with embedding_fusion(fused):
        model = DeepFM(columns, columns)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", jit_compile=jit_compile)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # tracing + warm-up
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return len(y) * epochs / seconds, history.history["loss"][-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per setting")
    parser.add_argument("--batch-sizes", default="256,4096")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--xla", action="store_true",
                        help="also time the fused model with jit_compile=True (slow on CPU)")
    args = parser.parse_args(argv)
    import tensorflow as tf
    x, y, _ = criteo_arrays(args.rows)
    print(f"DeepFM training throughput, {args.rows} Criteo-format rows (26 sparse + 13 dense), "
          f"dim 4, DNN (256, 128, 64); TF {tf.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print()
    xla_header = " fused + XLA (ex/s) |" if args.xla else ""
    print("| batch | per-field tables (ex/s) | fused table (ex/s) | fused / per-field |" + xla_header)
    print("|---|---|---|---|" + ("---|" if args.xla else ""))
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        results = {True: [], False: []}
        for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
            for fused in (False, True):
                results[fused].append(throughput(x, y, fused, batch, args.epochs)[0])
        per_field, fused = max(results[False]), max(results[True])
        xla = (f" {throughput(x, y, True, batch, 1, jit_compile=True)[0]:,.0f} |"
               if args.xla else "")
        print(f"| {batch} | {per_field:,.0f} | {fused:,.0f} | {fused / per_field:.2f}x |" + xla)
    return 0


if __name__ == "__main__":
    sys.exit(main())
