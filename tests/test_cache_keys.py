"""Cache keys follow the code: editing the source a component runs changes that component's
exec properties (part of TFX's cache key, which does not include an executor class's source), so
a rerun executes it again instead of reusing the old result; other components keep theirs.

No pipeline runs: the pipeline is built against a copy of the sources, a file of the copy is
edited, and the pipeline is built again."""
import shutil

import pytest

import pipeline.pipeline as pipeline_module

# Components whose inputs and code do not change with any of the edited files below.
UNRELATED = ("StatisticsGen", "SchemaGen", "CurateSchema", "Transform")


@pytest.fixture
def source_copy(tmp_path, monkeypatch):
    """A copy of the fingerprinted sources that `code_version` reads instead of the checkout."""
    for folder in ("components", "ctr_models"):
        shutil.copytree(f"{pipeline_module.SOURCE_ROOT}/{folder}", tmp_path / folder)
    monkeypatch.setattr(pipeline_module, "SOURCE_ROOT", str(tmp_path))
    return tmp_path


def _exec_properties(spec_name):
    from components.dataset_spec import load_spec
    built = pipeline_module.create_pipeline(
        load_spec(spec_name), "/nonexistent/data", pipeline_module.RunPaths("/nonexistent/root"),
        pipeline_module.TrainingConfig(train_steps=2), input_pattern="*.csv")
    return {c.id: dict(c.exec_properties) for c in built.components}


def _edit(root, relative_path):
    with open(root / relative_path, "a") as f:
        f.write("\n# an edit\n")


# The file each of the four components runs, and the spec whose ExampleGen runs it.
EDITS = [("criteo", "components/fast_csv.py", "CsvExampleGen"),
         ("census_income", "components/headerless_csv.py", "CsvExampleGen"),
         ("criteo", "components/shuffled_write.py", "CsvExampleGen"),
         ("criteo", "components/validation.py", "ExampleValidator"),
         ("criteo", "components/evaluation.py", "Evaluator"),
         ("criteo", "components/pusher.py", "Pusher")]
FINGERPRINTED = ("CsvExampleGen", "ExampleValidator", "Evaluator", "Pusher")


@pytest.mark.parametrize("spec_name,edited,component", EDITS)
def test_editing_a_components_code_changes_its_cache_key_only(source_copy, spec_name, edited,
                                                               component):
    before = _exec_properties(spec_name)
    _edit(source_copy, edited)
    after = _exec_properties(spec_name)
    assert before[component] != after[component], f"{edited} edited, {component} unchanged"
    # the fingerprints are separate: the other three keep their cache keys, as do the
    # components that run none of the edited code
    for other in UNRELATED + tuple(c for c in FINGERPRINTED if c != component):
        assert before[other] == after[other], f"{edited} edited, {other} changed"
