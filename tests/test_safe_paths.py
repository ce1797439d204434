"""Paths a run writes to: the spec's name (the default root runs/<name>) cannot leave runs/, and
the commands without a run root (predict, compile-kubeflow) log into a folder of this user's
own, never through a symbolic link someone planted."""
import os
import stat

import pytest

from components.dataset_spec import DatasetSpec, SpecError, load_spec

LABEL = {"name": "label", "column": "label"}


def _spec(name, source="specs/mine.yaml"):
    raw = {"labels": [LABEL], "dense": ["I1"]}
    if name is not None:
        raw["name"] = name
    return DatasetSpec.from_dict(raw, source=source)


# -- the spec's name ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../../tmp/x", "a/b", "..", "../x", ".hidden", "a b",
                                  "/abs", "x" * 65, "a..b", "-x", 7])
def test_a_spec_name_that_is_not_a_plain_folder_name_is_rejected(name):
    with pytest.raises(SpecError) as error:
        _spec(name)
    message = str(error.value)
    assert message.startswith("specs/mine.yaml: name: "), message
    assert repr(name) in message, message


@pytest.mark.parametrize("name", ["criteo", "movielens_rating", "census-income.v2", "X1",
                                  "x" * 64])
def test_plain_names_are_kept(name):
    assert _spec(name).name == name


def test_every_bundled_spec_has_a_plain_name():
    from components.dataset_spec import SPEC_DIR
    for file in sorted(os.listdir(SPEC_DIR)):
        if file.endswith(".yaml"):
            assert load_spec(os.path.join(SPEC_DIR, file)).name == file[:-len(".yaml")]


def test_a_name_taken_from_the_file_name_is_checked_too(tmp_path):
    path = tmp_path / "my data.yaml"
    path.write_text("labels: [{name: label, column: label}]\ndense: [I1]\n")
    with pytest.raises(SpecError, match=r"my data\.yaml: name: .*'my data'"):
        load_spec(str(path))


# -- the log folder of predict and compile-kubeflow ------------------------------------------

@pytest.fixture
def state_home(tmp_path, monkeypatch):
    """XDG_STATE_HOME and the temporary folder inside tmp_path; returns the state folder."""
    import tempfile
    state = tmp_path / "state"
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("TMPDIR", str(shared_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    return state


@pytest.fixture
def restoring_stderr():
    """The CLI points file descriptor 2 at its log for the rest of the process: put it back."""
    saved = os.dup(2)
    yield
    os.dup2(saved, 2)
    os.close(saved)


def _private_logs(state_home):
    return state_home / "ctr-pipeline" / "logs"


def _stub_commands(monkeypatch):
    """predict and compile-kubeflow without their work: each writes a line of 'chatter' to file
    descriptor 2, as TensorFlow's C++ logging would."""
    import pipeline.kubeflow
    import pipeline.predict

    def chatter(*args, **kwargs):
        os.write(2, b"chatter\n")
        return "compiled"
    monkeypatch.setattr(pipeline.predict, "predict_csv", chatter)
    monkeypatch.setattr(pipeline.kubeflow, "compile_kubeflow", chatter)


def _run(command, tmp_path, model=None):
    from pipeline.cli import main
    if command == "predict":
        return main(["predict", "--model", str(model or tmp_path / "model"),
                     "--input", str(tmp_path / "rows.csv")])
    return main(["compile-kubeflow", "--dataset", "criteo", "--image", "example/image",
                 "--pipeline-root", "gs://bucket/root", "--data", "gs://bucket/data",
                 "--output", str(tmp_path / "pipeline.json")])


@pytest.mark.parametrize("command", ["predict", "compile-kubeflow"])
def test_commands_without_a_root_log_into_a_private_folder(command, tmp_path, state_home,
                                                           restoring_stderr, monkeypatch):
    _stub_commands(monkeypatch)
    assert _run(command, tmp_path) == 0
    logs = _private_logs(state_home)
    assert (logs / f"{command}.log").read_text() == "chatter\n"
    assert stat.S_IMODE(os.lstat(logs).st_mode) == 0o700
    assert not (tmp_path / "tmp" / "ctr-pipeline").exists()  # nothing in the shared folder


def test_predict_from_a_run_root_logs_into_the_roots_logs(tmp_path, state_home, restoring_stderr,
                                                          monkeypatch):
    _stub_commands(monkeypatch)
    root = tmp_path / "root"
    (root / "serving" / "1").mkdir(parents=True)
    assert _run("predict", tmp_path, model=root) == 0
    assert (root / "logs" / "predict.log").read_text() == "chatter\n"


@pytest.mark.parametrize("command", ["predict", "compile-kubeflow"])
def test_a_planted_log_symlink_is_not_followed(command, tmp_path, state_home, restoring_stderr,
                                               monkeypatch):
    """A symbolic link where the log goes, in the private folder or in the old shared one,
    never gets the command's output."""
    _stub_commands(monkeypatch)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for folder in (_private_logs(state_home), tmp_path / "tmp" / "ctr-pipeline"):
        folder.mkdir(parents=True, mode=0o700)
        os.symlink(victim, folder / f"{command}.log")
    assert _run(command, tmp_path) != 0
    assert victim.read_text() == "precious\n"


def test_a_planted_logs_folder_symlink_is_refused(tmp_path, state_home):
    from pipeline.progress import private_log_dir
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state_home / "ctr-pipeline").mkdir(parents=True)
    os.symlink(elsewhere, _private_logs(state_home))
    with pytest.raises(PermissionError, match="symbolic link"):
        private_log_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_logs_folder_of_another_user_is_refused(state_home):
    from pipeline.progress import private_log_dir
    logs = _private_logs(state_home)
    logs.mkdir(parents=True, mode=0o700)
    os.chown(logs, 65534, 65534)
    with pytest.raises(PermissionError, match="owned by user 65534"):
        private_log_dir()


def test_an_open_logs_folder_of_ours_is_closed_to_others(state_home):
    from pipeline.progress import private_log_dir
    logs = _private_logs(state_home)
    logs.mkdir(parents=True)
    os.chmod(logs, 0o777)
    assert private_log_dir() == str(logs)
    assert stat.S_IMODE(os.lstat(logs).st_mode) == 0o700
