"""CurateSchema: validation that flags real problems, not every new id."""
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from components.dataset_spec import DatasetSpec
from components.schema import curate

SPEC = DatasetSpec.from_dict({
    "name": "tiny",
    "labels": [{"name": "label", "column": "clicked"}],
    "dense": ["count"],
    "sparse": ["ad_id", "site"],
})


def _frame(ads, n=60, label=True):
    data = {"count": [i % 7 for i in range(n)], "ad_id": [ads[i % len(ads)] for i in range(n)],
            "site": ["a" if i % 2 else "b" for i in range(n)]}
    if label:
        data["clicked"] = [i % 2 for i in range(n)]
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def schemas():
    stats = tfdv.generate_statistics_from_dataframe(_frame(["x1", "x2", "x3"]))
    inferred = tfdv.infer_schema(stats, infer_feature_shape=True)
    return inferred, curate(inferred, SPEC)


def _anomalies(schema, frame):
    return dict(tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame),
                                         schema).anomaly_info)


def test_new_ids_are_not_anomalies_after_curation(schemas):
    inferred, curated = schemas
    new_ids = _frame(["y1", "y2"])
    assert "ad_id" in _anomalies(inferred, new_ids)  # what SchemaGen alone would report
    assert _anomalies(curated, new_ids) == {}


def test_type_change_and_missing_label_are_anomalies(schemas):
    _, curated = schemas
    wrong_type = _frame(["x1"]).assign(count=["many"] * 60)
    assert "count" in _anomalies(curated, wrong_type)
    no_label = _frame(["x1"]).assign(clicked=[1.0] * 30 + [None] * 30)
    assert "clicked" in _anomalies(curated, no_label)


def test_features_optional_at_serving_labels_not(schemas):
    _, curated = schemas
    by_name = {f.name: f for f in curated.feature}
    assert not by_name["ad_id"].HasField("shape") and not by_name["count"].HasField("shape")
    assert list(by_name["clicked"].not_in_environment) == ["SERVING"]
    assert by_name["clicked"].presence.min_fraction == 1.0


def test_missing_spec_column_is_named(schemas):
    inferred, _ = schemas
    spec = DatasetSpec.from_dict({"name": "t", "labels": [{"name": "label", "column": "clicked"}],
                                  "sparse": ["ad_id", "campaign"]}, source="t.yaml")
    with pytest.raises(ValueError, match=r"t.yaml reads column\(s\) \['campaign'\]"):
        curate(inferred, spec)
