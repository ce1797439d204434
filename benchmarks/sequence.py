"""Sequence-model benchmark on one Transform output: `python -m benchmarks.sequence --root R
--dataset behaviour --model BST [--model-arg k=v] [--embedding-init-std 0.5]`.

Builds and compiles the model exactly as the Trainer does (components.model_builder,
components.trainer.compile_model) on the newest Transform output of a run root, trains
`--epochs` passes over the train split (batch 256, Adam 3e-3 by default) and prints the Keras
AUC on the whole eval split after every epoch. Without the Trainer's export and the Evaluator a
model takes seconds, so initialisations and arguments can be compared on the same rows.
"""
import argparse
import dataclasses
import glob
import os
import time


def _latest(pattern):
    found = sorted(glob.glob(pattern), key=lambda p: int(os.path.basename(p)))
    if not found:
        raise SystemExit(f"no Transform output under {pattern}")
    return found[-1]


def latest_transform_output(root):
    """(TFTransformOutput, transformed examples folder) of the newest Transform run in `root`."""
    import tensorflow_transform as tft
    transform = os.path.join(root, "pipeline_root", "Transform")
    graph = _latest(os.path.join(transform, "transform_graph", "*"))
    return (tft.TFTransformOutput(graph),
            os.path.join(transform, "transformed_examples", os.path.basename(graph)))


def split_dataset(tft_output, examples, split, input_names, label, batch_size, shuffle, seed=0):
    """One pass over a transformed split as batches of ({input: tensor}, label); `shuffle`: the
    rows in a new order each pass."""
    import tensorflow as tf
    feature_spec = tft_output.transformed_feature_spec()
    files = tf.io.gfile.glob(os.path.join(examples, f"Split-{split}", "*"))
    data = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle:
        data = data.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(
        lambda s: tf.io.parse_example(s, feature_spec)).map(
        lambda f: ({n: f[n] for n in input_names}, f[label]))


def run(root, dataset, model_name, model_args, epochs=3, batch_size=256, learning_rate=3e-3,
        embedding_init_std=None, seed=0):
    import tf_keras as keras

    from components.dataset_spec import load_spec
    from components.model_builder import build_model, feature_columns, vocabulary_sizes
    from components.trainer import compile_model
    from ctr_models.tracing import skip_autograph_of_graph_safe_code

    skip_autograph_of_graph_safe_code()
    keras.utils.set_random_seed(seed)
    spec = load_spec(dataset)
    if embedding_init_std is not None:  # the same spec with another embedding init
        spec = dataclasses.replace(
            spec, sparse=[dataclasses.replace(f, embedding_init_std=embedding_init_std)
                          for f in spec.sparse],
            multi_value=[dataclasses.replace(f, embedding_init_std=embedding_init_std)
                         for f in spec.multi_value])
    tft_output, examples = latest_transform_output(root)
    linear, dnn = feature_columns(spec, vocabulary_sizes(spec, tft_output))
    model = build_model(model_name, spec, linear, dnn, model_args)
    compile_model(model, spec, learning_rate)
    names = [i.name for i in model.inputs]

    def dataset_of(split, shuffle):
        return split_dataset(tft_output, examples, split, names, spec.label_names[0],
                             batch_size, shuffle, seed)

    start = time.time()
    history = model.fit(dataset_of("train", True), epochs=epochs,
                        validation_data=dataset_of("validation", False), verbose=0)
    return {"model": model_name, "model_args": model_args,
            "embedding_init_std": embedding_init_std,
            "validation_auc": [round(v, 4) for v in history.history["val_auc"]],
            "train_auc": [round(v, 4) for v in history.history["auc"]],
            "seconds": round(time.time() - start, 1)}


def main(argv=None):
    from pipeline.options import parse_model_args
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sequence", description=__doc__)
    parser.add_argument("--root", required=True, help="run root with a Transform output")
    parser.add_argument("--dataset", default="behaviour")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--embedding-init-std", type=float,
                        help="override the spec's embedding_init_std for every feature")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    args = parser.parse_args(argv)
    result = run(args.root, args.dataset, args.model, parse_model_args(args.model_arg),
                 args.epochs, args.batch_size, args.learning_rate, args.embedding_init_std)
    print(result)


if __name__ == "__main__":
    main()
