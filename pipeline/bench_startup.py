"""Fixed costs of a fresh training process: DeepFM build + compile, first `fit` (tracing), first
`evaluate` and SavedModel export, with and without `ctr_models.tracing.skip_keras_autograph()`.

Each setting runs in its own process (the autograph rule is process-wide and tracing caches are
per process): `python -m pipeline.bench_startup` prints a Markdown table; `--child on|off` is one
measurement, printed as JSON.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

STEPS = ("build + compile", "first fit (4 steps)", "second fit (4 steps)", "first evaluate",
         "SavedModel export")


def measure(skip_autograph, rows=4096, batch_size=1024):
    """Seconds per step in STEPS for a DeepFM over Criteo-format arrays."""
    from pipeline.bench import criteo_arrays
    x, y, _ = criteo_arrays(rows)
    import tf_keras as keras
    if skip_autograph:
        from ctr_models.tracing import skip_keras_autograph
        skip_keras_autograph()
    from ctr_models.feature_column import DenseFeat, SparseFeat
    from ctr_models.models import DeepFM
    import numpy as np
    seconds = {}
    start = time.perf_counter()
    columns = [SparseFeat(k, int(v.max()) + 1, 4) if v.dtype == np.int32 else DenseFeat(k, 1)
               for k, v in x.items()]
    model = DeepFM(columns, columns)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    for step, action in zip(STEPS, (
            lambda: None,
            lambda: model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0),
            lambda: model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0),
            lambda: model.evaluate(x, y, batch_size=batch_size, verbose=0),
            lambda: model.save(tempfile.mkdtemp(), save_format="tf"))):
        action()
        now = time.perf_counter()
        seconds[step], start = now - start, now
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child == "on")))
        return 0
    results = {}
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, "-m", "pipeline.bench_startup", "--child", mode],
                             check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"Fresh-process fixed costs of DeepFM (26 sparse + 13 dense, batch 1024), "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print()
    print("| step | autograph converts tf_keras (TF default) s | skip_keras_autograph() s | ratio |")
    print("|---|---|---|---|")
    for step in STEPS:
        off, on = results["off"][step], results["on"][step]
        print(f"| {step} | {off:.1f} | {on:.1f} | {off / max(on, 1e-9):.1f}x |")
    total_off, total_on = sum(results["off"].values()), sum(results["on"].values())
    print(f"| **total** | **{total_off:.1f}** | **{total_on:.1f}** | "
          f"**{total_off / total_on:.1f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
