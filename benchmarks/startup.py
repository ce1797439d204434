"""Fixed costs of a fresh training process, up to the first training step and after: DeepFM
import, build + compile, first step, the rest of the first `fit` (tracing), first `evaluate` and
SavedModel export -- ctr_models with and without
`ctr_models.tracing.skip_autograph_of_graph_safe_code()` (until 2026-12-07 it skipped tf_keras
only; now ctr_models' layers too), and
DeepCTR 0.9.4's DeepFM as its users run it (TensorFlow's defaults), on the same rows.

Each setting runs in its own process (the autograph rule is process-wide and tracing caches are
per process): `python -m benchmarks.startup` prints a Markdown table; `--child MODE` is one
measurement, printed as JSON.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STEPS = ("import TensorFlow + model library", "build + compile", "first step",
         "rest of first fit (4 steps)", "second fit (4 steps)", "first evaluate",
         "SavedModel export")
TO_FIRST_STEP = STEPS[:3]
# the children run `python -m benchmarks.startup` from here: benchmarks/ is not installed
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# child mode -> column title
MODES = {"off": "ctr_models, autograph converts tf_keras (TF default)",
         "on": "ctr_models, skip_autograph_of_graph_safe_code() (the Trainer)",
         "deepctr": "DeepCTR 0.9.4 (TF default)"}


def measure(mode, rows=4096, batch_size=1024):
    """Seconds per step in STEPS for a DeepFM over Criteo-format arrays; `mode` is a MODES key."""
    from benchmarks.throughput import criteo_arrays
    import numpy as np
    x, y = criteo_arrays(rows)[:2]  # the training rows
    seconds = {}
    start = time.perf_counter()

    def lap(step):
        nonlocal start
        now = time.perf_counter()
        seconds[step], start = now - start, now

    import tf_keras as keras
    if mode == "deepctr":
        from benchmarks.deepctr_reference import import_deepctr
        import_deepctr()  # without its call to pypi.org
        from deepctr.feature_column import DenseFeat, SparseFeat
        from deepctr.models import DeepFM
    else:
        from ctr_models.feature_column import DenseFeat, SparseFeat
        from ctr_models.models import DeepFM
        if mode == "on":
            from ctr_models.tracing import skip_autograph_of_graph_safe_code
            skip_autograph_of_graph_safe_code()
    lap(STEPS[0])
    columns = [SparseFeat(k, int(v.max()) + 1, 4) if np.issubdtype(v.dtype, np.integer)
               else DenseFeat(k, 1)
               for k, v in x.items()]
    model = DeepFM(columns, columns)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    lap(STEPS[1])

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                lap(STEPS[2])

    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[FirstStep()])
    lap(STEPS[3])
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    lap(STEPS[4])
    model.evaluate(x, y, batch_size=batch_size, verbose=0)
    lap(STEPS[5])
    model.save(tempfile.mkdtemp(), save_format="tf")
    lap(STEPS[6])
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    results = {}
    for mode in MODES:
        out = subprocess.run([sys.executable, "-m", "benchmarks.startup", "--child", mode],
                             check=True, capture_output=True, text=True, cwd=REPO).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    print(f"Fresh-process fixed costs of DeepFM (26 sparse + 13 dense, 4,096 rows, batch 1024), "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
          f"`python -m benchmarks.startup`; each column its own process, run back to back")
    print()
    print("| step | " + " | ".join(f"{title} s" for title in MODES.values())
          + " | DeepCTR / ours (Trainer) |")
    print("|---|" + "---|" * (len(MODES) + 1))

    def row(label, values, bold=False):
        cells = [f"{v:.1f}" for v in values] + [f"{values[2] / max(values[1], 1e-9):.2f}x"]
        if bold:
            cells, label = [f"**{c}**" for c in cells], f"**{label}**"
        print(f"| {label} | " + " | ".join(cells) + " |")

    for step in STEPS:
        row(step, [results[mode][step] for mode in MODES])
    row("time to the first step", [sum(results[mode][s] for s in TO_FIRST_STEP)
                                   for mode in MODES], bold=True)
    row("total", [sum(results[mode].values()) for mode in MODES], bold=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
