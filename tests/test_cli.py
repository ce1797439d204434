"""CLI helpers that need no pipeline run."""
import pytest

from components.dataset_spec import load_spec
from pipeline.cli import count_examples, default_train_steps, resolve_input


def _write(path, header, rows=2):
    path.write_text(header + "\n" + "\n".join(["x"] * rows) + "\n")


def test_resolve_input_picks_the_files_with_the_spec_columns(tmp_path):
    spec = load_spec("movielens")
    header = ",".join(["user_id", "movie_id", "rating", "timestamp", "title", "genres", "gender",
                       "age", "occupation", "zip"])
    _write(tmp_path / "movielens_sample.txt", header)
    _write(tmp_path / "criteo_sample.txt", "label,I1,C1")
    _write(tmp_path / "age_vocabulary.csv", "1,1")  # tried first (*.csv), matches nothing
    assert resolve_input(str(tmp_path), spec) == (str(tmp_path), "movielens_sample.txt")
    assert resolve_input(str(tmp_path / "criteo_sample.txt"), spec)[1] == "criteo_sample.txt"
    with pytest.raises(SystemExit, match=r"criteo_sample.txt lacks \['I2'"):
        resolve_input(str(tmp_path), load_spec("criteo"))
    with pytest.raises(SystemExit, match="no such file"):
        resolve_input(str(tmp_path / "nope"), spec)


def test_default_train_steps_cover_the_training_split(tmp_path):
    _write(tmp_path / "a.csv", "label,I1", rows=1000)
    _write(tmp_path / "b.csv", "label,I1", rows=1000)
    assert count_examples(str(tmp_path), "*.csv", "csv") == 2000
    spec = load_spec("criteo")  # split 9:1
    assert default_train_steps(2000, spec, epochs=2, batch_size=100) == 36
