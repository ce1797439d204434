"""The Evaluator's work on an existing run root, outside the pipeline: TFX's Evaluator executor
(`--config before`: TFX's executor with the Keras BinaryCrossentropy, the config before the
Evaluator section of BENCHMARKS.md) or components.evaluation's (`--config after`: the pipeline's
config and slice limits), on the root's eval split and its first trained model, optionally with
that model as the baseline too (the work of a rerun's comparison). Configurations run in turn in
one process (imports paid once); each prints its wall time, its CPU time (all threads of this
process: in_memory runs everything here), the blessing and the overall metrics.

    .venv/bin/python -m benchmarks.evaluator --root runs/demo before after
    .venv/bin/python -m benchmarks.evaluator --root runs/demo --baseline before after

`after-<lever>` is `after` without one of its speed-ups (LEVERS), to measure each against
`after` in one process: `... --root runs/demo after after-decoding_schema after`.
"""
import argparse
import glob
import json
import os
import tempfile
import time

# Each of the Evaluator's speed-ups in the pipeline's config, and how to undo it: config name
# "after-<lever>" is `after` without that one lever (each measured against `after`).
LEVERS = {
    "model_type": "ModelSpec.model_type unset: TFMA tries a Keras load_model to learn it",
    "decoding_schema": "every feature of the examples decoded, not only the sliced ones",
    "histogram_means": "TFMA's Calibration, MeanLabel and MeanPrediction (their own combiner) "
                       "instead of components.evaluation.HistogramMeans",
}
CONFIGS = ("before", "after") + tuple(f"after-{lever}" for lever in LEVERS)


def undo_lever(lever, config):
    """`config` (an EvalConfig) without the speed-up `lever` (see LEVERS; decoding_schema is
    the executor's, undone in `measure`)."""
    if lever == "decoding_schema":
        return
    if lever == "histogram_means":
        import tensorflow_model_analysis as tfma
        for metrics_spec in config.metrics_specs:
            metrics = [tfma.MetricConfig() for _ in metrics_spec.metrics]
            for copy, metric in zip(metrics, metrics_spec.metrics):
                copy.CopyFrom(metric)
            del metrics_spec.metrics[:]
            for metric in metrics:
                if metric.class_name == "HistogramMeans":
                    metrics_spec.metrics.extend(tfma.MetricConfig(class_name=name) for name in
                                                ("Calibration", "MeanLabel", "MeanPrediction"))
                else:
                    metrics_spec.metrics.append(metric)
    elif lever == "model_type":
        for model_spec in config.model_specs:
            model_spec.ClearField("model_type")
    else:
        raise ValueError(f"unknown lever {lever!r}; known: {', '.join(LEVERS)}")


def full_decoding_executor():
    """components.evaluation's executor decoding every feature (a module-level class: TFX's
    executor needs an importable name)."""
    from components import evaluation
    global FullDecodingExecutor
    FullDecodingExecutor = type("FullDecodingExecutor", (evaluation.Executor,), {
        "decoding_schema": staticmethod(lambda config, model_dir: None), "__module__": __name__})
    return FullDecodingExecutor


def measure(root, spec_name, config_name, baseline, beam_mode, top_values=None):
    import tensorflow_model_analysis as tfma
    from tfx.components.evaluator import executor as tfx_evaluator
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from components import evaluation
    from components.dataset_spec import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, load_spec
    from pipeline import pipeline

    spec = load_spec(spec_name)
    config = evaluation.eval_config(spec)
    # the split the pipeline's Evaluator scores (TFX's default, "eval", no longer exists)
    props = {"example_splits": json.dumps([TEST_SPLIT])}
    if config_name == "before":
        for lever in LEVERS:
            undo_lever(lever, config)
        for metrics_spec in config.metrics_specs:
            for metric in metrics_spec.metrics:
                if metric.class_name == "BinaryCrossEntropy":
                    metric.class_name = "BinaryCrossentropy"
        executor_class = tfx_evaluator.Executor
    else:
        limits = evaluation.slice_limits(spec)
        for limit in limits.values():
            limit["top_values"] = top_values or limit["top_values"]
        props["slice_top_values"] = json.dumps(limits)
        executor_class = evaluation.Executor
        if config_name == "after-decoding_schema":
            executor_class = full_decoding_executor()
        elif config_name.startswith("after-"):
            undo_lever(config_name[len("after-"):], config)
    props["eval_config"] = proto_utils.proto_to_json(config)
    examples = standard_artifacts.Examples()
    examples.uri = sorted(glob.glob(os.path.join(root, "pipeline_root", "CsvExampleGen",
                                                 "examples", "*")))[-1]
    examples.split_names = json.dumps([TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT])
    model = standard_artifacts.Model()
    model.uri = sorted(glob.glob(os.path.join(root, "pipeline_root", "Trainer", "model", "*")),
                       key=lambda p: int(os.path.basename(p)))[0]
    inputs = {"examples": [examples], "model": [model]}
    if baseline:
        inputs["baseline_model"] = [model]
    out = tempfile.mkdtemp(prefix=f"bench_evaluator_{config_name}_")
    evaluation_out = standard_artifacts.ModelEvaluation()
    evaluation_out.uri = os.path.join(out, "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = os.path.join(out, "blessing")
    os.makedirs(evaluation_out.uri)
    os.makedirs(blessing.uri)
    from pipeline.tfx_packaging import skip_self_packaging_for_local_runners
    skip_self_packaging_for_local_runners()  # as the CLI does: no 51 MB copy of TFX per call
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=pipeline.beam_args(beam_mode), tmp_dir=out, unique_id=config_name)
    start, cpu_start = time.time(), time.process_time()
    executor_class(context).Do(inputs, {"evaluation": [evaluation_out], "blessing": [blessing]},
                               props)
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    result = tfma.load_eval_result(evaluation_out.uri)
    overall = dict(result.slicing_metrics)[()][""][""]
    return {"config": config_name, "baseline": baseline, "beam_mode": beam_mode,
            "top_values": top_values, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "load_1min": os.getloadavg()[0],
            "blessing": os.listdir(blessing.uri), "slices": len(result.slicing_metrics),
            **{k: next(iter(overall[k].values())) for k in ("auc", "binary_crossentropy",
                                                              "example_count")},
            "output": out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a finished run root (e.g. runs/demo)")
    parser.add_argument("--dataset", default="criteo", help="its dataset spec")
    parser.add_argument("--baseline", action="store_true",
                        help="the model is its own baseline too (a rerun's comparison)")
    parser.add_argument("--beam-mode", default="in_memory",
                        choices=("in_memory", "multi_processing"))
    parser.add_argument("--top-values", type=int,
                        help="`after`: this limit for every limited slice feature instead of "
                             "the spec's (a small one makes the limit bind on the demo)")
    parser.add_argument("configs", nargs="+", choices=CONFIGS)
    args = parser.parse_args(argv)
    for name in args.configs:
        print(json.dumps(measure(os.path.abspath(args.root), args.dataset, name, args.baseline,
                                 args.beam_mode, args.top_values)), flush=True)


if __name__ == "__main__":
    main()
