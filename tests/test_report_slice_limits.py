"""The HTML report says when a slice feature was limited to its most frequent values."""
from components.dataset_spec import load_spec
from components.evaluation import limit_slices
from components.evaluation import eval_config
from pipeline.reporting.metrics import limited_slice_values
from test_eval_config import evaluator_model_dir  # the model folder as the Evaluator sees it


def test_limited_slice_features_and_their_number_of_values(tmp_path):
    config = eval_config(load_spec("criteo"))  # slices: overall, C6, C9
    config.slicing_specs.add(feature_keys=["I1"])
    model_dir = evaluator_model_dir(
        tmp_path, ["C6=a", "C9=x", "C6=b", "C6=c", "I1=7", "I1=3", "I1=5", "C9=y"],
        {"C6": "BYTES", "C9": "BYTES", "I1": "INT"})
    limits = {"C6": {"top_values": 2, "vocabulary": "vocab_ids", "prefix": "C6="},
              "C9": {"top_values": 5, "vocabulary": "vocab_ids", "prefix": "C9="},
              "I1": {"top_values": 2, "vocabulary": "vocab_ids", "prefix": "I1="}}
    limited = limit_slices(config, limits, model_dir)
    # C6: an SQL slice of 2 values; I1 (int): 2 feature_values slices; C9: not over its limit
    assert limited_slice_values(limited) == {"C6": 2, "I1": 2}
    assert limited_slice_values(config) == {}


def test_the_report_template_shows_the_limit():
    import os
    from pipeline.reporting.html import TEMPLATE_DIR
    template = open(os.path.join(TEMPLATE_DIR, "report.html.j2")).read()
    assert "table.top_values" in template and "most frequent training values" in template
