"""Serving latency of a pushed SavedModel: `python -m benchmarks.serving [--root RUN_ROOT]`.

In one process, on the same generated Criteo-format rows:
- the pushed model's `serving_default` signature (parse_example + the Transform graph + the
  model) on ONE raw serialized tf.Example, called many times after a warm-up: p50/p99/mean;
- the same signature on batches of 1024 examples: examples per second;
- the Trainer's Keras model (`keras.models.load_model` of the same pushed folder) on the same
  row already encoded by the run's Transform graph: `model.predict(x)` and `model(x,
  training=False)`.
The signature's and the Keras model's scores of the same rows are compared (they must agree).

`--root` is a run root with a pushed model under serving/ (its newest version) and its Transform
output under pipeline_root/; without it, `python -m pipeline demo` runs on a few thousand
generated rows into a temporary root first (a few minutes). Prints a Markdown section.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

SIGNATURE = "serving_default"
BATCH = 1024


def latency_stats(seconds):
    """Per-call seconds -> {'p50', 'p99', 'mean', 'min'} in milliseconds and 'calls'.
    Percentiles are nearest-rank (numpy's 'inverted_cdf'): a reported latency is one that some
    call really took."""
    ms = np.asarray(seconds, dtype=float) * 1000.0
    if ms.size == 0:
        raise ValueError("latency_stats: no timings")
    return {"p50": float(np.percentile(ms, 50, method="inverted_cdf")),
            "p99": float(np.percentile(ms, 99, method="inverted_cdf")),
            "mean": float(ms.mean()), "min": float(ms.min()), "calls": int(ms.size)}


def time_calls(fn, calls, warmup):
    """Seconds of each of `calls` calls of fn() after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def make_pushed_model(root, rows, model, log):
    """`python -m pipeline demo` on `rows` generated rows into `root` (short training: the model's
    quality does not matter here, its architecture does)."""
    command = [sys.executable, "-m", "pipeline", "demo", "--root", root, "--rows", str(rows),
               "--model", model, "--train-steps", "20", "--batch-size", "256",
               "--eval-steps", "2"]
    with open(log, "w") as out:
        status = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if status.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status.returncode}); see {log}")
    return command


def newest_transform_graph(root):
    graphs = glob.glob(os.path.join(root, "pipeline_root", "Transform", "transform_graph", "*"))
    if not graphs:
        raise SystemExit(f"--root {root}: no pipeline_root/Transform/transform_graph/* (a run "
                         f"root is needed: the Keras model's inputs are Transform's output)")
    return max(graphs, key=os.path.getmtime)


def raw_examples(schema, rows, seed):
    """`rows` generated Criteo rows as serialized tf.Examples typed by the model's raw schema
    (missing cells omitted, as `python -m pipeline predict` sends them)."""
    from data.generators import generate_criteo
    from components.raw_examples import RowEncoder
    df, _ = generate_criteo(rows, seed=seed)
    encoder = RowEncoder(schema, "generated criteo rows")
    encoder.check_header(list(df.columns))
    cells = df.astype(object).where(df.notna(), "").astype(str)
    return [encoder.encode(row, i) for i, row in enumerate(cells.to_dict("records"), start=2)]


def encoded_rows(tft_output, serialized, input_names):
    """The Keras model's inputs for `serialized`: parsed and transformed by the run's Transform
    graph, as numpy arrays."""
    import tensorflow as tf
    parsed = tf.io.parse_example(tf.constant(serialized), tft_output.raw_feature_spec())
    transformed = tft_output.transform_features_layer()(parsed)
    return {name: transformed[name].numpy() for name in input_names}


def measure(model_dir, transform_graph, calls, warmup, batches, seed=1):
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras
    from ctr_models.layers import custom_objects
    from components.raw_examples import load_raw_schema
    results = {}
    serialized = raw_examples(load_raw_schema(model_dir), BATCH, seed)
    start = time.perf_counter()
    signature = tf.saved_model.load(model_dir).signatures[SIGNATURE]
    results["load_signature_s"] = time.perf_counter() - start
    output = sorted(signature.structured_outputs)[0]
    one = tf.constant(serialized[:1])
    batch = tf.constant(serialized)
    results["signature_1"] = latency_stats(time_calls(
        lambda: signature(examples=one)[output].numpy(), calls, warmup))
    batch_seconds = time_calls(lambda: signature(examples=batch)[output].numpy(), batches, 2)
    results["signature_batch_ex_s"] = BATCH * len(batch_seconds) / sum(batch_seconds)

    start = time.perf_counter()
    model = keras.models.load_model(model_dir, custom_objects=custom_objects)
    results["load_keras_s"] = time.perf_counter() - start
    x = encoded_rows(tft.TFTransformOutput(transform_graph), serialized,
                     [i.name for i in model.inputs])
    x1 = {k: v[:1] for k, v in x.items()}
    x1_tensors = {k: tf.constant(v) for k, v in x1.items()}
    x_tensors = {k: tf.constant(v) for k, v in x.items()}
    # The Keras paths run eagerly, layer by layer: ~50-100x slower per call, so fewer calls
    # (their p99 is then close to their maximum).
    keras_calls = max(20, calls // 40)
    results["predict_1"] = latency_stats(time_calls(
        lambda: model.predict(x1, verbose=0), keras_calls, 5))
    results["call_1"] = latency_stats(time_calls(
        lambda: model(x1_tensors, training=False).numpy(), keras_calls, 5))
    call_seconds = time_calls(lambda: model(x_tensors, training=False).numpy(), batches, 2)
    results["call_batch_ex_s"] = BATCH * len(call_seconds) / sum(call_seconds)
    served = signature(examples=batch)[output].numpy().reshape(-1)
    keras_scores = np.asarray(model(x_tensors, training=False)).reshape(-1)
    results["max_abs_diff"] = float(np.max(np.abs(served - keras_scores)))
    return results


def _goal(met):
    return "met" if met else "**missed**"


def format_section(results, model_dir, command, load):
    s, p, c = results["signature_1"], results["predict_1"], results["call_1"]
    lines = [
        f"## Serving latency (issue 11, goal 6), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.1f} before / {load[1]:.1f} after (shared machine: other jobs "
        f"ran beside it). Model: `{model_dir}`.",
        "",
        "    " + command,
        "",
        "| path, one example per call | p50 ms | p99 ms | mean ms | calls |",
        "|---|--:|--:|--:|--:|",
        f"| `{SIGNATURE}`: 1 raw serialized tf.Example (parse + Transform + model) | "
        f"{s['p50']:.2f} | {s['p99']:.2f} | {s['mean']:.2f} | {s['calls']} |",
        f"| Keras `model(x, training=False)`: 1 encoded row (model only) | "
        f"{c['p50']:.2f} | {c['p99']:.2f} | {c['mean']:.2f} | {c['calls']} |",
        f"| Keras `model.predict(x)`: 1 encoded row (model only) | "
        f"{p['p50']:.2f} | {p['p99']:.2f} | {p['mean']:.2f} | {p['calls']} |",
        "",
        f"Batch {BATCH}: `{SIGNATURE}` {results['signature_batch_ex_s']:,.0f} examples/s "
        f"(raw tf.Examples); Keras `model(x)` on encoded rows "
        f"{results['call_batch_ex_s']:,.0f} examples/s.",
        "",
        f"Ratios (p50): `predict()` / `{SIGNATURE}` = {p['p50'] / s['p50']:.1f}x; "
        f"`model(x)` / `{SIGNATURE}` = {c['p50'] / s['p50']:.2f}x. "
        f"Goals: p50 <= 2 ms {_goal(s['p50'] <= 2.0)}; >= 5x faster than `predict()` "
        f"{_goal(p['p50'] / s['p50'] >= 5.0)}. The signature's and the Keras model's scores of "
        f"the same {BATCH} rows differ by at most {results['max_abs_diff']:.1e}. "
        f"Loading: `tf.saved_model.load` {results['load_signature_s']:.1f} s, "
        f"`keras.models.load_model` {results['load_keras_s']:.1f} s.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="run root with a pushed model (default: a demo run on "
                                       "--rows generated rows in a temporary root)")
    parser.add_argument("--rows", type=int, default=3000,
                        help="rows of the demo run that makes the model (without --root)")
    parser.add_argument("--model", default="DeepFM", help="model of that demo run")
    parser.add_argument("--calls", type=int, default=2000,
                        help="timed single-example calls of the signature")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batches", type=int, default=20, help=f"timed batches of {BATCH}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary root")
    args = parser.parse_args(argv)
    from pipeline.predict import resolve_model_dir
    load_before = os.getloadavg()[0]
    command = "python -m benchmarks.serving " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
    temporary = None
    root = args.root
    if root is None:
        temporary = root = tempfile.mkdtemp(prefix="bench-serving-")
        made = make_pushed_model(root, args.rows, args.model, os.path.join(root, "demo.out"))
        command += f"  # model from: python {' '.join(made[1:])}"
    try:
        model_dir = resolve_model_dir(root)
        results = measure(model_dir, newest_transform_graph(os.path.abspath(root)), args.calls,
                          args.warmup, args.batches)
        print(format_section(results, model_dir if temporary is None else
                             "a fresh demo model (temporary root)", command.strip(),
                             (load_before, os.getloadavg()[0])))
    finally:
        if temporary and not args.keep:
            shutil.rmtree(temporary, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
