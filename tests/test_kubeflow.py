"""`compile-kubeflow`: the pipeline compiled by KubeflowV2DagRunner, read back with KFP's
PipelineSpec proto. Three specs: criteo (CsvExampleGen with components.fast_csv's executor),
census_income (headerless CSV: the project's ExampleGen executor) and behaviour (the
HistoryBuilder component). Nothing runs."""
import argparse
import importlib
import json

import pytest

IMAGE = "registry.example.com/ctr-pipeline:test"
ROOT = "gs://ctr-bucket/pipelines/ctr"
DATAFLOW = ["--beam-arg=--runner=DataflowRunner", "--beam-arg=--project=my-project",
            "--beam-arg=--region=europe-west1", "--beam-arg=--experiments=use_runner_v2",
            "--beam-arg=--experiments=no_use_multiple_sdk_containers"]
RESOLVER_MODEL = "latest_blessed_model_resolver-model-resolver"
RESOLVER_BLESSING = "latest_blessed_model_resolver-model-blessing-resolver"
COMMON = ["StatisticsGen", "SchemaGen", "CurateSchema", "ExampleValidator", "Transform",
          "Trainer", RESOLVER_MODEL, RESOLVER_BLESSING, "Evaluator", "Pusher", "CsvExampleGen"]


def _compile(tmp_path, *argv, output="p.json"):
    """Compiles through the subcommand's arguments; a .json output is a PipelineJob (Vertex AI),
    a .yaml output the bare PipelineSpec (what the Kubeflow Pipelines UI and client upload)."""
    from pipeline.kubeflow import add_compile_args, compile_kubeflow, compile_options
    parser = argparse.ArgumentParser()
    add_compile_args(parser)
    path = compile_kubeflow(compile_options(parser.parse_args(
        [*argv, "--output", str(tmp_path / output)])))
    with open(path) as f:
        text = f.read()
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    if output.endswith(".yaml"):
        import yaml
        job = {"pipelineSpec": yaml.safe_load(text)}
    else:
        job = json.loads(text)
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    return job, spec, text


@pytest.fixture(scope="module")
def criteo(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("kfp_criteo"), "--dataset", "criteo",
                    "--model", "DCN", "--model-arg", "cross_num=3", "--image", IMAGE,
                    "--pipeline-root", ROOT + "/", "--data", "gs://ctr-bucket/criteo/",
                    "--train-steps", "300", "--examples", "2000", "--optimizer", "lazy_adam",
                    "--seed", "7", "--no-early-stopping", "--cache-input", *DATAFLOW)


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("kfp_census"), "--dataset", "census_income",
                    "--model", "MMOE", "--image", IMAGE, "--pipeline-root", ROOT,
                    "--data", "s3://ctr-bucket/census",
                    "--input-pattern", "span-{SPAN}/census-income.*",
                    "--serving-dir", "s3://serving/census", "--batch-size", "256",
                    "--train-steps", "100",
                    "--beam-arg=--direct_num_workers=4", output="pipeline.yaml")


@pytest.fixture(scope="module")
def behaviour(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("kfp_behaviour"), "--dataset", "behaviour",
                    "--model", "DIN", "--image", IMAGE, "--pipeline-root", ROOT,
                    "--data", "gs://ctr-bucket/events/day-01.csv", "--beam-mode", "in_memory",
                    "--examples", "5000")


def _source(spec, task, key):
    """(producer task, output key) feeding input artefact `key` of `task`."""
    source = spec.root.dag.tasks[task].inputs.artifacts[key].task_output_artifact
    return source.producer_task, source.output_artifact_key


def _parameter(spec, task, name):
    value = spec.root.dag.tasks[task].inputs.parameters[name].runtime_value.constant_value
    return value.string_value


def _containers(spec):
    """{executor label: container spec} for every container executor (resolvers are queries)."""
    from google.protobuf import json_format
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    return {label: e["container"] for label, e in executors.items() if "container" in e}


def test_every_component_is_compiled_with_the_image_and_no_runtime_parameter(criteo):
    job, spec, text = criteo
    assert sorted(spec.root.dag.tasks) == sorted(COMMON)
    assert job["displayName"] == spec.pipeline_info.name == "ctr-criteo"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == ROOT
    assert not job["runtimeConfig"].get("parameterValues")
    assert not spec.root.input_definitions.parameters  # every value is a compiled constant
    containers = _containers(spec)
    resolvers = {RESOLVER_MODEL, RESOLVER_BLESSING}
    # every component but the resolver's two queries runs in the image, through TFX's entry point
    assert sorted(containers) == sorted(f"{t}_executor" for t in COMMON if t not in resolvers)
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        assert container["command"][-1] == (
            "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor")
    # the cluster's ML-Metadata, not this machine's sqlite file
    assert "sqlite" not in text and "metadata_path" not in text


def test_inputs_and_outputs_are_wired_like_the_local_pipeline(criteo):
    _, spec, _ = criteo
    assert _source(spec, "StatisticsGen", "examples") == ("CsvExampleGen", "examples")
    assert _source(spec, "SchemaGen", "statistics") == ("StatisticsGen", "statistics")
    assert _source(spec, "CurateSchema", "schema") == ("SchemaGen", "schema")
    assert _source(spec, "ExampleValidator", "schema") == ("CurateSchema", "curated_schema")
    assert _source(spec, "Transform", "examples") == ("CsvExampleGen", "examples")
    assert _source(spec, "Transform", "schema") == ("CurateSchema", "curated_schema")
    assert _source(spec, "Trainer", "examples") == ("Transform", "transformed_examples")
    assert _source(spec, "Trainer", "transform_graph") == ("Transform", "transform_graph")
    assert _source(spec, "Evaluator", "model") == ("Trainer", "model")
    assert _source(spec, "Evaluator", "baseline_model") == (RESOLVER_MODEL, "model")
    assert _source(spec, "Evaluator", "examples") == ("CsvExampleGen", "examples")
    assert _source(spec, "Pusher", "model") == ("Trainer", "model")
    assert _source(spec, "Pusher", "model_blessing") == ("Evaluator", "blessing")
    assert _source(spec, RESOLVER_MODEL, "input") == (RESOLVER_BLESSING, "model_blessing")
    assert set(spec.root.dag.tasks["Pusher"].dependent_tasks) == {"Evaluator", "Trainer"}


def test_module_paths_data_and_training_settings_are_in_the_spec(criteo):
    _, spec, _ = criteo
    assert _parameter(spec, "Transform", "preprocessing_fn") == (
        "components.transform.preprocessing_fn")
    assert _parameter(spec, "Trainer", "run_fn") == "components.trainer.run_fn"
    assert _parameter(spec, "CsvExampleGen", "input_base") == "gs://ctr-bucket/criteo"
    assert json.loads(_parameter(spec, "CsvExampleGen", "input_config"))["splits"][0][
        "pattern"] == "*.csv"  # from the spec's format: object storage is not listed
    assert json.loads(_parameter(spec, "Trainer", "train_args")) == {"num_steps": 300,
                                                                    "splits": ["train"]}
    # early stopping and the per-epoch metrics on validation; the Evaluator on test
    assert json.loads(_parameter(spec, "Trainer", "eval_args"))["splits"] == ["validation"]
    assert json.loads(_parameter(spec, "Evaluator", "example_splits")) == ["test"]
    trainer = json.loads(_parameter(spec, "Trainer", "custom_config"))
    assert trainer["model"] == "DCN" and trainer["model_args"] == {"cross_num": 3}
    # the run options `run` has: the batch chosen from --examples 2000 as `run` chooses it for
    # 2,000 rows (1,600 training rows: 64, the largest power of 2 giving >= 25 steps per epoch)
    assert trainer["batch_size"] == 64
    assert (trainer["optimizer"], trainer["seed"], trainer["early_stopping"],
            trainer["cache_input"]) == ("lazy_adam", 7, False, True)
    assert json.loads(_parameter(spec, "Pusher", "push_destination")) == {
        "filesystem": {"base_directory": ROOT + "/serving"}}


def test_beam_args_reach_every_component_and_replace_the_direct_runner_defaults(criteo, census,
                                                                                 behaviour):
    expected = [a.split("=", 1)[1] for a in DATAFLOW]
    for label, container in _containers(criteo[1]).items():
        args = container["args"]
        # user options in order (both --experiments kept); no DirectRunner option is left
        assert [a for a in args if a.startswith("--") and "=" in a] == expected, label
    for label, container in _containers(census[1]).items():
        # --beam-mode multi_processing (default) with the user's worker count instead of 0
        assert [a for a in container["args"] if a.startswith("--direct")] == [
            "--direct_running_mode=multi_processing", "--direct_num_workers=4"], label
    for label, container in _containers(behaviour[1]).items():
        assert [a for a in container["args"] if a.startswith("--direct")] == [
            "--direct_running_mode=in_memory"], label


def test_custom_components_compile_with_importable_executors(census, behaviour):
    _, census_spec, _ = census
    _, behaviour_spec, _ = behaviour
    assert sorted(census_spec.root.dag.tasks) == sorted(COMMON)
    assert sorted(behaviour_spec.root.dag.tasks) == sorted(COMMON + ["HistoryBuilder"])
    # the behaviour pipeline reads HistoryBuilder's rows, not the raw event log
    assert _source(behaviour_spec, "HistoryBuilder", "log") == ("CsvExampleGen", "examples")
    for task in ("StatisticsGen", "Transform", "Evaluator"):
        assert _source(behaviour_spec, task, "examples") == ("HistoryBuilder", "examples")
    assert _parameter(behaviour_spec, "CsvExampleGen", "input_base") == "gs://ctr-bucket/events"
    assert json.loads(_parameter(behaviour_spec, "CsvExampleGen", "input_config"))["splits"][0][
        "pattern"] == "day-01.csv"  # --data named one file
    assert json.loads(_parameter(census_spec, "CsvExampleGen", "input_config"))["splits"][0][
        "pattern"] == "span-{SPAN}/census-income.*"  # resolved when a run starts
    assert json.loads(_parameter(census_spec, "Pusher", "push_destination"))["filesystem"][
        "base_directory"] == "s3://serving/census"
    classes = {}
    for spec in (census_spec, behaviour_spec):
        for label, container in _containers(spec).items():
            args = container["args"]
            classes[spec.pipeline_info.name, label] = args[args.index("--executor_class_path") + 1]
    # the project's own executors, by a path the image can import
    assert classes["ctr-census-income", "CsvExampleGen_executor"] == (
        "components.headerless_csv.Executor")
    assert classes["ctr-behaviour", "CsvExampleGen_executor"] == "components.fast_csv.Executor"
    assert classes["ctr-census-income", "CurateSchema_executor"] == (
        "components.schema.CurateSchema_Executor")
    assert classes["ctr-behaviour", "HistoryBuilder_executor"] == "components.history.Executor"
    for label, path in classes.items():
        module, name = path.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), name), type), label


def test_bad_input_is_named_before_compiling(tmp_path):
    from pipeline.kubeflow import input_location, kubeflow_pipeline_name
    assert kubeflow_pipeline_name("movielens_rating") == "ctr-movielens-rating"
    assert input_location("gs://b/x/", "csv") == ("gs://b/x", "*.csv")
    assert input_location("gs://b/x/part.tfrecord.gz", "tfrecord") == ("gs://b/x",
                                                                         "part.tfrecord.gz")
    with pytest.raises(SystemExit, match="--data data/x: give a URI"):
        input_location("data/x", "csv")
    with pytest.raises(Exception, match="NoSuchModel"):
        _compile(tmp_path, "--dataset", "criteo", "--model", "NoSuchModel", "--image", IMAGE,
                 "--pipeline-root", ROOT, "--data", "gs://b/d")
    from pipeline.kubeflow import add_compile_args
    parser = argparse.ArgumentParser()
    add_compile_args(parser)
    with pytest.raises(SystemExit):  # a Beam option must be --name=value
        parser.parse_args(["--dataset", "criteo", "--image", IMAGE, "--pipeline-root", ROOT,
                           "--data", "gs://b/d", "--beam-arg=runner=DataflowRunner"])


def test_dockerfile_installs_the_makefile_stack_with_the_pinned_beam_harness():
    """The image is not built in CI: check it installs what `make` installs, from the same pins,
    and that its Beam SDK harness is the pinned Beam version for the image's Python."""
    import os
    import re
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "Dockerfile")) as f:
        dockerfile = f.read()
    with open(os.path.join(repo, "Makefile")) as f:
        makefile = f.read()
    with open(os.path.join(repo, "constraints.txt")) as f:
        beam = re.search(r"^apache-beam==(\S+)$", f.read(), re.MULTILINE).group(1)
    # The package list: the same sed over constraints.txt (the Makefile wraps its line), minus
    # the packages the Makefile installs without dependencies (the image leaves them out).
    package_list = re.compile(r"sed -n '([^']+)'\s*(?:\\\n\s*)?constraints\.txt")
    assert package_list.findall(dockerfile) == package_list.findall(makefile)
    assert len(package_list.findall(makefile)) == 1
    no_deps = re.search(r"^NO_DEPS := (.+)$", makefile, re.MULTILINE).group(1).split()
    assert no_deps
    for package in no_deps:
        assert f"grep -vxF {package}" in dockerfile, package
    assert "pip install --ignore-requires-python -c constraints.txt" in dockerfile
    assert re.search(r"pip install --ignore-requires-python --no-deps .*-e \.", dockerfile)
    python = re.search(r"^FROM python:(3\.\d+)", dockerfile, re.MULTILINE).group(1)
    assert python == "3.11"
    assert f"apache/beam_python{python}_sdk:{beam} " in dockerfile
    assert re.search(r"^ENV [^#]*TF_USE_LEGACY_KERAS=1", dockerfile, re.MULTILINE)
    assert re.search(r"^\s*PYTHONPATH=/opt/ctr-pipeline$", dockerfile, re.MULTILINE)
    assert re.search(r"^WORKDIR /opt/ctr-pipeline$", dockerfile, re.MULTILINE)
