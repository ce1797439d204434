"""Tests of the synthetic data generators (data/generators.py) and their CLI (python -m data)."""
import csv
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data_testing import ABS_TOL, REL_TOL, csv_differences, value_differences

from data import behaviour
from data import generators as g
from data.__main__ import main as cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEX8 = re.compile(r"^[0-9a-f]{8}$")
INT = re.compile(r"^-?[0-9]+$")


def _read_raw(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def criteo_20k():
    return g.generate_criteo(20_000, seed=0, return_probability=True)


# ---------------------------------------------------------------------------- Criteo

def test_criteo_same_seed_same_bytes_other_seed_differs(tmp_path):
    # one process, one CPU: the same bytes, floats included (the committed samples, written on
    # another machine, compare with a tolerance: test_committed_samples_are_current)
    a = g.write_criteo(str(tmp_path / "a"), 3000, seed=7)
    b = g.write_criteo(str(tmp_path / "b"), 3000, seed=7)
    c = g.write_criteo(str(tmp_path / "c"), 3000, seed=8)
    assert _read_bytes(a["path"]) == _read_bytes(b["path"])
    oracle_a, oracle_b = (_read_bytes(tmp_path / d / "oracle.json") for d in "ab")
    assert oracle_a == oracle_b
    assert _read_bytes(a["path"]) != _read_bytes(c["path"])


def test_criteo_csv_format(tmp_path):
    info = g.write_criteo(str(tmp_path), 5000, seed=0)
    assert info["path"] == str(tmp_path / "train.csv")
    text = _read_bytes(info["path"]).decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    assert text.split("\n", 1)[0] == ",".join(
        ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)])
    header, rows = _read_raw(info["path"])
    assert header == g.CRITEO_COLUMNS and len(rows) == 5000
    assert all(len(r) == 40 for r in rows)
    cols = {name: [r[k] for r in rows] for k, name in enumerate(header)}
    for bad in ("nan", "NaN", "<NA>", "None", "NA"):
        assert bad not in text.split(",") and f",{bad}," not in text
    assert set(cols["label"]) == {"0", "1"}
    for name in g.CRITEO_DENSE:
        values = cols[name]
        missing = sum(v == "" for v in values) / len(values)
        assert 0.03 <= missing <= 0.45, (name, missing)
        assert all(INT.match(v) for v in values if v), name  # integers, no ".0"
    i2 = [int(v) for v in cols["I2"] if v]
    assert min(i2) == -3 and sum(v < 0 for v in i2) > 100
    assert all(int(v) >= 0 for name in g.CRITEO_DENSE if name != "I2" for v in cols[name] if v)
    assert max(int(v) for v in cols["I5"] if v) > 50_000  # heavy tail
    with_missing = [n for n in g.CRITEO_SPARSE if "" in cols[n]]
    assert len(with_missing) >= 4
    sizes = {}
    for name in g.CRITEO_SPARSE:
        present = [v for v in cols[name] if v]
        assert all(HEX8.match(v) for v in present), name
        sizes[name] = len(set(present))
    assert min(sizes.values()) <= 4 and sum(3 <= s <= 10 for s in sizes.values()) >= 2
    assert sum(s >= 1000 for s in sizes.values()) >= 5
    assert sum(100 <= s < 1000 for s in sizes.values()) >= 3
    assert json.loads(_read_bytes(tmp_path / "oracle.json"))["rows"] == 5000


def test_criteo_frame_dtypes_and_read_back(tmp_path):
    df, _ = g.generate_criteo(1000, seed=3)
    assert list(df.columns) == g.CRITEO_COLUMNS
    assert all(str(df[c].dtype) == "Int64" for c in g.CRITEO_DENSE)
    assert df["C19"].isna().any() and df["I1"].isna().any()
    path = str(tmp_path / "x.csv")
    g.write_csv(df, path)
    back = g.read_criteo(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    # DeepCTR's sample writes some counts as floats ("260.0"): read_criteo accepts both.
    floaty = df.copy()
    floaty["I5"] = floaty["I5"].astype(float)
    g.write_csv(floaty, path)
    assert ".0," in open(path).read()
    pd.testing.assert_frame_equal(g.read_criteo(path), back)


def test_criteo_oracle_in_band_and_beats_single_features(criteo_20k):
    df, info = criteo_20k
    y = df["label"].to_numpy()
    assert 0.20 <= info["ctr"] <= 0.30 and abs(info["ctr"] - y.mean()) < 1e-12
    assert 0.75 <= info["oracle_auc"] <= 0.85
    assert info["oracle_auc"] == pytest.approx(roc_auc_score(y, df["p"]))
    assert info["oracle_logloss"] < info["constant_logloss"] - 0.05
    # Best single feature: in-sample target encoding of small fields, raw dense values.
    single = []
    for name in g.CRITEO_SPARSE:
        if df[name].nunique() <= 30:
            x = df[name].fillna("?")
            single.append(roc_auc_score(y, x.map(df.groupby(x)["label"].mean())))
    for name in g.CRITEO_DENSE:
        auc = roc_auc_score(y, df[name].astype(float).fillna(-10))
        single.append(max(auc, 1 - auc))
    assert max(single) > 0.55  # the fields do carry signal...
    assert info["oracle_auc"] > max(single) + 0.1  # ...but the planted model is far better


def test_criteo_probability_recomputes_from_csv(tmp_path, criteo_20k):
    df, _ = criteo_20k
    path = str(tmp_path / "c.csv")
    g.write_csv(df.drop(columns="p").head(3000), path)
    p = g.criteo_probability(g.read_criteo(path), model_seed=0)
    np.testing.assert_allclose(p, df["p"].to_numpy()[:3000], rtol=1e-9)


def test_criteo_spans_share_the_model(tmp_path):
    out = str(tmp_path)
    s1 = g.write_criteo_span(out, 1, 4000, seed=5)
    s2 = g.write_criteo(out, 4000, seed=5, span=2)
    assert s1["path"] == g.span_path(out, 1) == str(tmp_path / "span-1" / "data.csv")
    assert os.path.exists(tmp_path / "span-2" / "data.csv")
    assert sorted(os.listdir(tmp_path / "span-1")) == ["data.csv"]
    oracle = json.loads(_read_bytes(tmp_path / "span-2.oracle.json"))
    assert oracle["span"] == 2 and oracle["path"] == "span-2/data.csv" and oracle["model_seed"] == 5
    d1, d2 = g.read_criteo(s1["path"]), g.read_criteo(s2["path"])
    assert not d1.equals(d2)
    base, _ = g.generate_criteo(4000, seed=5)
    assert set(d1["C6"].dropna()) == set(base["C6"].dropna()) == set(d2["C6"].dropna())
    for d, info in ((d1, s1), (d2, s2)):  # same planted model explains each span
        auc = roc_auc_score(d["label"], g.criteo_probability(d, model_seed=5))
        assert auc == pytest.approx(info["oracle_auc"])


def test_criteo_drift_shifts_frequencies():
    base, _ = g.generate_criteo(20_000, seed=0, span=3)
    drifted, info = g.generate_criteo(20_000, seed=0, span=3, drift=0.5)
    assert info["drift"] == 0.5
    f0 = base["C6"].value_counts(normalize=True)
    f1 = drifted["C6"].value_counts(normalize=True).reindex(f0.index).fillna(0)
    assert (f0 - f1).abs().sum() > 0.2
    assert 0.1 <= info["ctr"] <= 0.4


# ---------------------------------------------------------------------------- MovieLens

@pytest.fixture(scope="module")
def movielens_5k():
    return g.generate_movielens(5000, seed=0, with_history=True, return_expected=True)


def test_movielens_columns_and_values(movielens_5k):
    df, info = movielens_5k
    assert list(df.columns) == g.MOVIELENS_COLUMNS + ["hist_movie_id", "expected_rating",
                                                     "p_like"]
    assert set(df["rating"]) <= {1, 2, 3, 4, 5} and df["rating"].nunique() == 5
    assert set(df["gender"]) == {"M", "F"}
    assert set(df["age"]) <= {1, 18, 25, 35, 45, 50, 56}
    assert df["occupation"].between(0, 20).all()
    assert df["zip"].str.fullmatch(r"[0-9]{5}").all()
    assert df["title"].str.fullmatch(r".+ \((19|20)[0-9]{2}\)").all()
    genres = df["genres"].str.split("|")
    assert genres.map(len).between(1, 3).all() and (genres.map(len) > 1).mean() > 0.2
    assert set(genres.explode()) <= set(g.MOVIELENS_GENRES)
    per_movie = df.groupby("movie_id")[["genres", "title"]].nunique()
    assert (per_movie == 1).all().all()
    per_user = df.groupby("user_id")[["gender", "age", "occupation", "zip"]].nunique()
    assert (per_user == 1).all().all()
    assert not df.duplicated(["user_id", "movie_id"]).any()
    assert df["timestamp"].is_monotonic_increasing
    assert df.groupby("user_id")["timestamp"].apply(lambda t: t.diff().dropna().gt(0).all()).all()


def test_movielens_oracle(movielens_5k):
    df, info = movielens_5k
    like = (df["rating"] >= 4).astype(int)
    assert 0.4 <= info["positive_rate"] <= 0.7
    assert 0.75 <= info["oracle_auc"] <= 0.9
    assert info["oracle_auc"] == pytest.approx(roc_auc_score(like, df["p_like"]))
    rmse = float(np.sqrt(np.mean((df["rating"] - df["expected_rating"]) ** 2)))
    assert info["oracle_rmse"] == pytest.approx(rmse) and rmse < info["constant_rmse"] - 0.1
    by_genre = roc_auc_score(like, df["genres"].map(df.groupby("genres")["rating"].mean()))
    assert info["oracle_auc"] > by_genre + 0.1


def test_movielens_history(movielens_5k):
    df, _ = movielens_5k
    user = df["user_id"].iloc[-1]
    rows = df[df["user_id"] == user]
    ids = rows["movie_id"].astype(str).tolist()
    assert rows["hist_movie_id"].tolist() == ["|".join(ids[:i][-50:]) for i in range(len(ids))]
    small = pd.DataFrame({"user_id": [1, 2, 1, 1, 2], "movie_id": [10, 20, 11, 12, 21],
                          "timestamp": [5, 1, 3, 9, 2]})
    hist = g.movie_history(small, maxlen=2)
    assert hist.tolist() == ["11", "", "", "11|10", "20"]


def test_movielens_deterministic(tmp_path):
    a = g.write_movielens(str(tmp_path / "a"), 1500, seed=1)
    b = g.write_movielens(str(tmp_path / "b"), 1500, seed=1)
    c = g.write_movielens(str(tmp_path / "c"), 1500, seed=2)
    assert _read_bytes(a["path"]) == _read_bytes(b["path"]) != _read_bytes(c["path"])
    header, rows = _read_raw(a["path"])
    assert header == g.MOVIELENS_COLUMNS and len(rows) == 1500


# ---------------------------------------------------------------------------- samples, CLI

def test_committed_samples_are_current(tmp_path):
    """The committed samples are what the generators write now: floats within the stated
    tolerance of tests/data_testing.py (other CPUs sum in another order), all else exactly."""
    fresh = g.write_samples(str(tmp_path))
    fresh.update(behaviour.write_sample(str(tmp_path)))
    for name, size in (("criteo_2k", 2000), ("movielens_1k", 1000), ("behaviour_3k", 3000)):
        committed = os.path.join(g.SAMPLES_DIR, f"{name}.csv")
        differences = csv_differences(fresh[name]["path"], committed)
        assert not differences, (f"{committed} is stale: run `python -m data samples`\n"
                                 + "\n".join(differences[:20]))
        oracle = json.loads(_read_bytes(os.path.join(g.SAMPLES_DIR, f"{name}.oracle.json")))
        assert oracle["rows"] == size and oracle["path"] == f"{name}.csv"
        differences = value_differences(
            json.loads(_read_bytes(tmp_path / f"{name}.oracle.json")), oracle)
        assert not differences, (f"{name}.oracle.json is stale: run `python -m data samples`\n"
                                 + "\n".join(differences[:20]))


def test_cli_in_process(tmp_path, capsys):
    assert cli_main(["criteo", "--rows", "300", "--out", str(tmp_path), "--seed", "4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 300 and summary["seed"] == 4
    assert os.path.exists(tmp_path / "train.csv") and os.path.exists(tmp_path / "oracle.json")
    assert cli_main(["criteo", "--rows", "200", "--out", str(tmp_path), "--span", "3",
                     "--drift", "0.2"]) == 0
    assert json.loads(capsys.readouterr().out)["span"] == 3
    assert os.path.exists(tmp_path / "span-3" / "data.csv")
    assert cli_main(["movielens", "--rows", "400", "--out", str(tmp_path / "ml"),
                     "--with-history", "--file-name", "ratings.csv"]) == 0
    capsys.readouterr()
    header, rows = _read_raw(tmp_path / "ml" / "ratings.csv")
    assert header == g.MOVIELENS_COLUMNS + ["hist_movie_id"] and len(rows) == 400


def test_cli_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "data", "movielens", "--rows", "200", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 200
    df = pd.read_csv(io.StringIO(_read_bytes(tmp_path / "train.csv").decode()))
    assert list(df.columns) == g.MOVIELENS_COLUMNS and len(df) == 200


def test_tolerant_comparison_allows_last_bit_noise_only(tmp_path):
    """The comparison used for committed samples can fail: a last-place difference (as between
    CPUs) passes, a real change of a float, an int, a string, a key or a type does not."""
    noisy = 0.10577887626442553
    assert value_differences({"p": noisy, "n": 2}, {"p": 0.10577887626442552, "n": 2}) == []
    assert value_differences({"x": float("nan")}, {"x": float("nan")}) == []
    assert REL_TOL <= 1e-9 and ABS_TOL <= 1e-12
    for changed in ({"p": noisy * (1 + 1e-8), "n": 2}, {"p": noisy, "n": 3},
                    {"p": noisy, "n": 2.0}, {"p": noisy}, {"p": str(noisy), "n": 2},
                    {"p": float("nan"), "n": 2}):
        assert value_differences(changed, {"p": noisy, "n": 2}), changed
    base = tmp_path / "a.csv"
    base.write_text("label,price,name\n1,0.10577887626442552,x\n0,3.25,\n")
    cases = {"1,0.10577887626442553,x\n0,3.25,\n": [],  # last-bit noise in a float cell
             "1,0.1057789,x\n0,3.25,\n": ["line 2, column price"],  # 1e-7 relative
             "1,0.10577887626442552,x\n0,3.2500001,\n": ["line 3, column price"],
             "1,0.10577887626442552,x\n0,3,\n": ["line 3, column price"],  # no longer a float
             "0,0.10577887626442552,x\n0,3.25,\n": ["line 2, column label"],
             "1,0.10577887626442552,y\n0,3.25,\n": ["line 2, column name"],
             "1,0.10577887626442552,x\n0,3.25,z\n": ["line 3, column name"],
             "1,0.10577887626442552,x\n0,3.25\n": ["line 3"],
             "1,0.10577887626442552,x\n": ["2 lines != 3 lines"]}
    for body, expected in cases.items():
        other = tmp_path / "b.csv"
        other.write_text("label,price,name\n" + body)
        found = csv_differences(str(other), str(base))
        assert [d.split(":")[0] for d in found] == expected, (body, found)


# ---------------------------------------------------------------------------- atomic writes

class Interrupted(Exception):
    """Stands for anything that stops a writer half way (Ctrl-C, a full disk, a crash)."""


def _half_written_csv(self, handle, **kwargs):
    handle.write(",".join(self.columns) + "\n" + "0,1,")  # the header and part of a row...
    raise Interrupted  # ...then the writer is stopped


def test_interrupted_writer_leaves_no_file(tmp_path, monkeypatch):
    from data.census import write_census
    from data.multitask import write_multitask
    monkeypatch.setattr(pd.DataFrame, "to_csv", _half_written_csv)
    for write in (g.write_criteo, g.write_movielens, behaviour.write_behaviour, write_multitask):
        out = tmp_path / write.__name__
        with pytest.raises(Interrupted):
            write(str(out), 300, seed=1)
        assert not out.exists() or os.listdir(out) == [], write.__name__  # no CSV, no temp file
    with pytest.raises(Interrupted):
        g.write_criteo(str(tmp_path / "spans"), 300, seed=1, span=2)
    assert os.listdir(tmp_path / "spans" / "span-2") == []

    calls = []

    def format_then_stop(value):
        calls.append(value)
        if len(calls) > 500:  # a few rows in
            raise Interrupted
        return str(value)

    monkeypatch.setattr("data.census._format", format_then_stop)
    with pytest.raises(Interrupted):
        write_census(str(tmp_path / "census"), 100, seed=1)
    assert os.listdir(tmp_path / "census") == []


def test_interrupted_rewrite_keeps_the_complete_old_file(tmp_path, monkeypatch):
    info = g.write_criteo(str(tmp_path), 300, seed=1)
    before = {name: _read_bytes(tmp_path / name) for name in os.listdir(tmp_path)}
    assert sorted(before) == ["oracle.json", "train.csv"]
    monkeypatch.setattr(pd.DataFrame, "to_csv", _half_written_csv)
    with pytest.raises(Interrupted):
        g.write_criteo(str(tmp_path), 500, seed=1)
    assert {name: _read_bytes(tmp_path / name) for name in os.listdir(tmp_path)} == before
    assert len(_read_raw(info["path"])[1]) == 300


def test_atomic_text_file_on_keyboard_interrupt(tmp_path):
    from data.writing import atomic_text_file
    target = tmp_path / "t.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_text_file(str(target)) as handle:
            handle.write("a,b\n1,")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
    with atomic_text_file(str(target)) as handle:
        handle.write("a,b\r\n1,2\n")
    assert _read_bytes(target) == b"a,b\r\n1,2\n"  # line ends written as given
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() makes


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------- reuse

def _count_calls(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_reuse_keeps_a_csv_only_for_the_same_rows_and_seed(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch, g, "generate_criteo")
    out = str(tmp_path)
    first = g.write_criteo(out, 300, seed=1, reuse=True)
    inode = os.stat(first["path"]).st_ino
    assert g.write_criteo(out, 300, seed=1, reuse=True) == first
    assert len(calls) == 1 and os.stat(first["path"]).st_ino == inode  # kept, not rewritten
    more = g.write_criteo(out, 500, seed=1, reuse=True)  # --rows changed: written again
    assert more["rows"] == 500 and len(_read_raw(more["path"])[1]) == 500
    assert json.loads(_read_bytes(tmp_path / "oracle.json"))["rows"] == 500
    other = g.write_criteo(out, 500, seed=2, reuse=True)  # --seed changed
    assert other["seed"] == 2 and len(calls) == 3
    assert _read_bytes(other["path"]) == _read_bytes(g.write_criteo(str(tmp_path / "ref"), 500,
                                                                    seed=2)["path"])
    g.write_criteo(out, 500, seed=2, reuse=True, drift=0.5)  # any generator option counts
    assert len(calls) == 5
    # a write without reuse (`python -m data criteo ...`) drops the record: no stale reuse
    g.write_criteo(out, 200, seed=2)
    assert not os.path.exists(os.path.join(out, "train.csv.params.json"))
    assert len(_read_raw(g.write_criteo(out, 200, seed=2, reuse=True)["path"])[1]) == 200
    assert len(calls) == 7
    # a CSV changed by hand (another size than recorded) is not taken for the generated one
    with open(os.path.join(out, "train.csv"), "a") as handle:
        handle.write("1" + "," * 39 + "\n")
    assert len(_read_raw(g.write_criteo(out, 200, seed=2, reuse=True)["path"])[1]) == 200
    assert len(calls) == 8


def test_reuse_of_a_span_keeps_its_folder_csv_only(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch, g, "generate_criteo")
    out = str(tmp_path)
    g.write_criteo_span(out, 1, 200, seed=5, reuse=True)
    g.write_criteo_span(out, 1, 200, seed=5, reuse=True)
    assert len(calls) == 1 and os.listdir(tmp_path / "span-1") == ["data.csv"]
    assert len(_read_raw(g.write_criteo_span(out, 1, 300, seed=5, reuse=True)["path"])[1]) == 300
    assert len(calls) == 2


@pytest.mark.parametrize("writer", ["movielens", "behaviour", "multitask", "census"])
def test_reuse_by_the_other_writers_follows_rows(tmp_path, writer):
    from data.census import write_census
    from data.multitask import write_multitask
    write = {"movielens": g.write_movielens, "behaviour": behaviour.write_behaviour,
             "multitask": write_multitask, "census": write_census}[writer]
    first = write(str(tmp_path), 300, seed=1, reuse=True)
    inode = os.stat(first["path"]).st_ino
    assert write(str(tmp_path), 300, seed=1, reuse=True) == first
    assert os.stat(first["path"]).st_ino == inode
    more = write(str(tmp_path), 400, seed=1, reuse=True)
    with open(more["path"], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert more["rows"] == 400 and len(lines) == 400 + (writer != "census")  # census: no header


def test_demo_regenerates_its_data_when_rows_change(tmp_path, monkeypatch):
    from pipeline import run
    from pipeline.options import RunOptions
    seen = []

    class Report:
        def format(self, **kwargs):
            return ""

    def fake_run(options):
        seen.append(len(_read_raw(os.path.join(options.data, "train.csv"))[1]))
        return Report()

    monkeypatch.setattr(run, "run_pipeline", fake_run)
    for rows in (300, 300, 450):
        options = run.DemoOptions(run=RunOptions(dataset="criteo", root=str(tmp_path)), rows=rows)
        run.demo(options, out=lambda *a: None)
    assert seen == [300, 300, 450]
    assert sorted(os.listdir(tmp_path / "data")) == ["oracle.json", "train.csv",
                                                     "train.csv.params.json"]
