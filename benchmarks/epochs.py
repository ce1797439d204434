"""More epochs, with and without early stopping (issue 11, goal 7): `python -m benchmarks.epochs
--root R [--epochs 4] [--batch-size 1024]`.

On the newest Transform output of a Criteo run root (`make bench` uses the demo's rows), trains
DeepFM as the Trainer builds and compiles it (DeepCTR's defaults, Adam 3e-3) for `--epochs`
passes twice from the same initial weights: once with the Trainer's early stopping
(components.trainer.fit: stop when the epoch-end validation AUC stops improving, keep the best
epoch's weights) and once without (every epoch, the last weights kept). As in the pipeline, the
epochs are judged on the validation split (the whole split after every epoch: what early stopping
chooses by) and the kept model on the test split, which no choice saw (what the Evaluator
blesses on). Prints a Markdown section: the validation AUC after each epoch, the kept epoch and
the kept model's test AUC for both settings.
"""
import argparse
import contextlib
import sys
import time


def raw_split_dataset(root, tft_output, split, input_names, label, batch_size):
    """One pass over a split of the newest ExampleGen output as the model's inputs: the raw
    examples through Transform's graph, as the serving signature scores them (Transform writes
    no transformed test split: the Evaluator reads the raw one)."""
    import glob
    import os

    import tensorflow as tf
    examples = sorted(glob.glob(os.path.join(root, "pipeline_root", "*ExampleGen", "examples",
                                             "*")), key=os.path.getmtime)[-1]
    files = tf.io.gfile.glob(os.path.join(examples, f"Split-{split}", "*"))
    raw_spec = tft_output.raw_feature_spec()
    transform_layer = tft_output.transform_features_layer()
    data = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    return data.map(lambda s: transform_layer(tf.io.parse_example(s, raw_spec))).map(
        lambda f: ({n: f[n] for n in input_names}, f[label]))


def train(root, dataset, model_name, epochs, batch_size, learning_rate, early_stopping, seed):
    """One training run -> {"epoch_auc": [validation AUC per epoch], "kept_epoch", "kept_auc"
    (the kept model's test AUC), "steps", "seconds"}."""
    import tf_keras as keras

    from components.dataset_spec import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, load_spec
    from components.model_builder import build_model, feature_columns, vocabulary_sizes
    from components.trainer import compile_model, fit
    from ctr_models.tracing import skip_autograph_of_graph_safe_code
    from benchmarks.sequence import latest_transform_output, split_dataset

    skip_autograph_of_graph_safe_code()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    spec = load_spec(dataset)
    tft_output, examples = latest_transform_output(root)
    linear, dnn = feature_columns(spec, vocabulary_sizes(spec, tft_output))
    model = build_model(model_name, spec, linear, dnn, {})
    compile_model(model, spec, learning_rate)
    names = [i.name for i in model.inputs]
    label = spec.label_names[0]
    train_split = split_dataset(tft_output, examples, TRAIN_SPLIT, names, label, batch_size, True,
                                seed)
    validation_split = split_dataset(tft_output, examples, VALIDATION_SPLIT, names, label,
                                     batch_size, False)
    test_split = raw_split_dataset(root, tft_output, TEST_SPLIT, names, label, batch_size)
    steps_per_epoch = sum(1 for _ in train_split)
    history, _, steps, kept, seconds = fit(
        model, train_split.repeat(), validation_split, spec, {"early_stopping": early_stopping},
        steps_per_epoch, epochs, None, step_lines=False)
    kept_auc = model.evaluate(test_split, verbose=0, return_dict=True)["auc"]
    return {"epoch_auc": history["val_auc"], "kept_epoch": kept + 1, "kept_auc": kept_auc,
            "steps": steps, "seconds": seconds}


def format_section(command, epochs, batch_size, results):
    rows = [f"| {name} | " + " | ".join(
        f"{r['epoch_auc'][i]:.4f}" if i < len(r["epoch_auc"]) else "-" for i in range(epochs))
        + f" | {r['kept_epoch']} | **{r['kept_auc']:.4f}** | {r['steps']} | {r['seconds']:.0f} |"
        for name, r in results.items()]
    off, on = results["without early stopping"], results["with early stopping (default)"]
    best = max(off["epoch_auc"])
    return "\n".join([
        f"## Epochs and early stopping (issue 11, goal 7), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"DeepFM (DeepCTR defaults), batch {batch_size}, Adam 3e-3, up to {epochs} epochs, the "
        f"same initial weights and row order in both runs; AUC on the whole validation split "
        f"after each epoch (what early stopping chooses by), then the kept weights' AUC on the "
        f"test split (which no choice saw).",
        "",
        "    " + command,
        "",
        "| setting | " + " | ".join(f"validation AUC after epoch {i + 1}"
                                    for i in range(epochs))
        + " | kept epoch | kept model's test AUC | steps | train s |",
        "|---|" + "--:|" * (epochs + 4),
        *rows,
        "",
        f"On the test split, the kept model with early stopping is "
        f"{on['kept_auc'] - off['kept_auc']:+.4f} AUC from the last epoch's without it, in "
        f"{on['steps']} steps instead of {off['steps']} (the best validation epoch without it: "
        f"{best:.4f}).",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.epochs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="run root with a Transform output")
    parser.add_argument("--dataset", default="criteo")
    parser.add_argument("--model", default="DeepFM")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = {}
    for name, early in (("without early stopping", False),
                        ("with early stopping (default)", True)):
        with contextlib.redirect_stdout(sys.stderr):  # Keras' epoch lines: not the report's
            results[name] = train(args.root, args.dataset, args.model, args.epochs,
                                  args.batch_size, args.learning_rate, early, args.seed)
    command = "python -m benchmarks.epochs " + " ".join(
        argv if argv is not None else sys.argv[1:])
    print(format_section(command.strip(), args.epochs, args.batch_size, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
