"""Every command shown in README.md's code blocks is checked, so the README cannot drift from the
code.

How: README.md's code blocks (indented or fenced) are extracted and each one is classified.
Shell blocks are split into commands (backslash continuations joined, `# comments` dropped) and
every command must match exactly one entry of COMMANDS, which says how it is checked and why:

- RUN: it is run here as written, in a subprocess, after the substitutions below, and must exit
  0. Placeholders and long data become tiny local ones (SUBSTITUTIONS: e.g.
  `path/to/criteo_sample.txt` -> the bundled sample, `/tmp/mtl` -> a temporary folder,
  `--rows 50000` -> `--rows 300`), `.venv/bin/python` becomes this interpreter, and a pipeline
  command gets `--root <tmp>/<dataset>` (shared by the module, so a second run on the same input
  reuses ML-Metadata's cache) unless it names one (`runs/...` is then moved under <tmp>).
  Training settings are NOT substituted: the default criteo run must also be blessed.
- PARSE: it needs a cluster, cloud storage, Docker, cron, an hour of data, or it is the same as
  a run another test module makes (the reason says which). It is parsed by the CLI's own argparse
  (`pipeline.cli.build_parser`, `python -m data`'s parser, `make -n`), and what it names is
  checked without running it: the dataset spec loads, the model exists and takes the
  `--model-arg` keys, every `--beam-arg` is an option Beam knows (parsed by Beam itself), local
  paths exist, Docker images carry the installed Beam version. Bracketed optional arguments
  (`[--window 3]`) are checked both left out and given (each `a|b` alternative).

Other blocks (Python, YAML, sample output, a table, an environment value, Beam option fragments)
are classified in BLOCKS by their first line and checked for what they state. A block or command
that is not classified fails `test_every_block_and_command_is_classified`, and so does an entry
that no longer matches anything. Commands written in the prose (not in a code block) are not
extracted.

Cost: three pipeline runs (the criteo default, the same input cached, movielens DCN), marked
`pipeline`; the two criteo runs are in a root tests/test_cli_output.py checks too
(tests/shared_runs.py). Everything else takes seconds.
"""
import glob
import inspect
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from background_runs import register as register_background_run
import shared_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
SAMPLE_CRITEO = os.path.join(REPO, "data", "samples", "criteo_2k.csv")
RUN, PARSE = "run", "parse"

# Every shell command of the README by its leading words (the longest matching prefix wins; the
# command is whitespace-normalised; a key matches whole words unless it ends with `*`): how it
# is checked and why.
COMMANDS = {
    "make demo": (PARSE, "generates 100k rows (minutes): `make -n demo` must run "
                         "`python -m pipeline demo`, whose arguments are parsed; the demo is "
                         "data.generators.write_criteo (tests/test_data_generators.py) plus the "
                         "same run_pipeline as the criteo run here"),
    "make test": (PARSE, "is this test suite: `make -n test` must run tests/run_suite.py"),
    ".venv/bin/python -m pipeline run --dataset criteo": (
        RUN, "the README's first run, exactly as a newcomer types it; must be blessed"),
    ".venv/bin/python -m pipeline run --dataset criteo --data path/to/criteo_sample.txt": (
        RUN, "the bundled sample given as --data: the same input as the first run, so in the "
             "same root everything up to the Trainer is a cache hit (the Evaluator reruns "
             "against the first model)"),
    ".venv/bin/python -m pipeline run --dataset movielens --model DCN": (
        RUN, "the only movielens pipeline run of the suite (multi-value genres, model args)"),
    ".venv/bin/python -m pipeline retrain": (
        PARSE, "needs span folders under /srv/logs; tests/test_retrain.py runs retrain"),
    ".venv/bin/python -m pipeline run --dataset criteo --orchestrator beam": (
        PARSE, "tests/test_orchestrator.py runs the bundled sample under --orchestrator beam"),
    ".venv/bin/python -m pipeline run --dataset criteo --beam-mode portable": (
        PARSE, "tests/test_portable_runner.py runs the bundled sample with --beam-mode portable"),
    "docker run --net=host apache/beam_flink*": (
        PARSE, "needs Docker and a Flink cluster: the job server image must match the "
               "installed Beam"),
    "docker run --net=host apache/beam_spark*": (
        PARSE, "needs Docker and a Spark cluster: the job server image must match the "
               "installed Beam"),
    ".venv/bin/python -m pipeline compile-kubeflow": (
        PARSE, "tests/test_kubeflow.py compiles the pipeline; gs:// paths and the image are "
               "placeholders"),
    "--beam-arg=--runner=*": (
        PARSE, "Beam options for a run on a cluster (Dataflow, Flink, Spark): parsed with `run` "
               "by the CLI, combined with the DirectRunner options, and parsed by Beam"),
    "docker build": (PARSE, "needs Docker (not in CI): the Dockerfile must exist"),
    "docker push": (PARSE, "needs a registry: pushes the tag that docker build names"),
    ".venv/bin/python -m pipeline run --dataset criteo --root runs/criteo": (
        PARSE, "the first criteo run above with another root"),
    ".venv/bin/python -m pipeline train-local": (
        PARSE, "tests/test_multi_worker.py runs train-local (1 and 2 workers); two workers "
               "here would cost minutes"),
    ".venv/bin/python -m pipeline run --dataset multitask --model MMOE": (
        PARSE, "tests/test_pipeline_multitask.py runs the multitask pipeline"),
    ".venv/bin/python -m data multitask": (
        RUN, "cheap: writes the file the next command reads (rows cut to 300)"),
    ".venv/bin/python -m pipeline run --dataset multitask --data": (
        PARSE, "a second multitask pipeline run; its --data file, written by the command "
               "before, must exist"),
    ".venv/bin/python -m pipeline run --dataset census_income": (
        PARSE, "DIR/census-income.sample is what `python -m data census --out DIR` writes "
               "(checked here); a census pipeline run adds nothing the multitask one lacks"),
    ".venv/bin/python -m pipeline compare": (
        PARSE, "tests/test_cli_output.py runs compare (DeepFM, DCN) on the bundled sample; the "
               "README's five models on 60k rows took an hour here"),
    ".venv/bin/python -m pipeline run --dataset behaviour": (
        PARSE, "tests/test_pipeline_sequence.py runs the behaviour pipeline"),
}

# Code blocks that are not shell commands, by their first line: what is checked.
BLOCKS = {
    "Log: runs/criteo/logs/": "sample output: its components and labels are the CLI's",
    "15 3 * * * cd /opt/ctr-pipeline": "the crontab line: deploy/crontab.example has it, and "
                                       "its retrain command parses",
    "import kfp": "needs kfp and a Kubeflow host (kfp is not pinned): compiled only",
    "TF_CONFIG=": "a worker's TF_CONFIG: valid JSON with a cluster and a task",
    "behaviour: {user: user_id": "the behaviour section of data/specs/behaviour.yaml",
    "split: {train: 8, validation: 1, test: 1}": "split sections: each loads in a spec",
    "from ctr_models.feature_column import": "the DeepCTR-style imports: executed",
}

# README placeholder -> what a RUN command (or a PARSE command's path check) uses instead.
SUBSTITUTIONS = {
    "path/to/criteo_sample.txt": SAMPLE_CRITEO,
    "--rows 50000": "--rows 300",
    "--timeout S": "--timeout 1800",
}


def readme_blocks(text=None):
    """[(first line number, block text)] of the README's indented and fenced code blocks."""
    lines = (text if text is not None else open(README).read()).split("\n")
    blocks, current, fenced, previous_blank = [], None, False, True
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            if fenced:
                blocks.append(current)
                current, fenced = None, False
            else:
                current, fenced = (number + 1, []), True
            continue
        if fenced:
            current[1].append(line)
        elif line.startswith("    ") and (current is not None or previous_blank):
            if current is None:
                current = (number, [])
            current[1].append(line[4:])
        elif current is not None:
            blocks.append(current)
            current = None
        previous_blank = not line.strip()
    if current is not None:
        blocks.append(current)
    return [(number, "\n".join(block).strip("\n")) for number, block in blocks]


def block_kind(block):
    """'shell' or the BLOCKS key whose text starts the block."""
    first = block.split("\n", 1)[0].strip()
    for key in BLOCKS:
        if first.startswith(key):
            return key
    return "shell"


def shell_commands(block):
    """The commands of a shell block: continuations joined, comments dropped, whitespace
    normalised."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.split("\n"):
        words = shlex.split(line, comments=True)
        if words:
            commands.append(" ".join(shlex.quote(w) if re.search(r"[\s()\"']", w) else w
                                     for w in words))
    return commands


def classify(command):
    """The COMMANDS key (longest matching prefix) of a command, or None."""
    matches = [key for key in COMMANDS if command == key or command.startswith(key + " ")
               or key.endswith("*") and command.startswith(key[:-1])]
    return max(matches, key=len) if matches else None


def all_commands():
    return [c for _, block in readme_blocks() if block_kind(block) == "shell"
            for c in shell_commands(block)]


def test_readme_blocks_are_extracted_from_indented_and_fenced_code():
    text = ("Intro\n\n    make demo   # comment\n    make test\n\nprose\n\n```\nfoo \\\n"
            "  --bar 1\n```\n")
    blocks = readme_blocks(text)
    assert blocks == [(3, "make demo   # comment\nmake test"), (9, "foo \\\n  --bar 1")]
    assert shell_commands(blocks[0][1]) == ["make demo", "make test"]
    assert shell_commands(blocks[1][1]) == ["foo --bar 1"]
    assert classify(".venv/bin/python -m pipeline run --dataset criteo --model DCN") == (
        ".venv/bin/python -m pipeline run --dataset criteo")
    assert classify("rm -rf /") is None


def test_every_block_and_command_is_classified():
    blocks = readme_blocks()
    assert len(blocks) > 10
    commands = all_commands()
    unclassified = [c for c in commands if classify(c) is None]
    assert not unclassified, (
        f"README commands without an entry in COMMANDS (say how the test checks them): "
        f"{unclassified}")
    used = {classify(c) for c in commands}
    assert not set(COMMANDS) - used, f"COMMANDS entries matching no README command: " \
                                     f"{sorted(set(COMMANDS) - used)}"
    kinds = {block_kind(b) for _, b in blocks}
    assert not set(BLOCKS) - kinds, f"BLOCKS entries matching no README block: " \
                                    f"{sorted(set(BLOCKS) - kinds)}"


# ---- checking without running ----

def variants(words):
    """The command without its [optional] groups, and with them (once per `a|b` alternative);
    `...` (more of the same) is dropped."""
    text = " ".join(words)
    groups = re.findall(r"\[([^\]]*)\]", text)
    base = re.sub(r"\s*\[[^\]]*\]", "", text)
    result = [base]
    alternatives = max([len(re.findall(r"\S+\|\S+", g) and
                            re.search(r"\S+\|\S+", g).group(0).split("|")) or 1
                        for g in groups] or [1])
    for i in range(alternatives if groups else 0):
        def pick(match):
            options = match.group(0).split("|")
            return options[min(i, len(options) - 1)]
        filled = [re.sub(r"[^\s|]+(\|[^\s|]+)+", pick, g) for g in groups]
        result.append(" ".join([base] + filled))
    return [[w for w in shlex.split(v) if w != "..."] for v in result]


def substitute(command, tmp):
    for placeholder, value in SUBSTITUTIONS.items():
        command = command.replace(placeholder, value)
    command = command.replace("/tmp/mtl", os.path.join(tmp, "mtl"))
    command = re.sub(r"(--root )runs/", rf"\1{tmp}/", command)
    return command.replace(".venv/bin/python", shlex.quote(sys.executable))


def pipeline_argv(words):
    """The arguments after `python -m pipeline`."""
    i = words.index("-m")
    assert words[i + 1] == "pipeline", words
    return words[i + 2:]


def check_beam_options(flags):
    """Each flag is an option Beam knows, and Beam parses the values."""
    from apache_beam.options.pipeline_options import PipelineOptions
    known = PipelineOptions([]).get_all_options()
    for flag in flags:
        name = flag[2:].split("=", 1)[0]
        assert name in known, f"{flag}: not a Beam pipeline option"
    PipelineOptions(flags).get_all_options()  # argparse errors (bad choices) raise SystemExit


def is_outside(path):
    """A path the README means on another machine or as a placeholder."""
    return (path.startswith(("gs://", "/srv/", "/opt/")) or re.search(r"\b[A-Z]{3,}\b", path)
            is not None)


def check_pipeline_command(argv):
    """Parses `python -m pipeline <argv>` with the CLI's parser and checks what it names."""
    from components.dataset_spec import load_spec
    from pipeline.options import parse_model_args
    from ctr_models.models import get_model_fn
    from pipeline.cli import build_parser
    from pipeline.pipeline import beam_args, combine_beam_args
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as error:
        pytest.fail(f"python -m pipeline {' '.join(argv)}: the CLI rejects it ({error})")
    if getattr(args, "dataset", None):
        load_spec(args.dataset)
    if getattr(args, "model", None) and args.command != "predict":
        parameters = inspect.signature(get_model_fn(args.model)).parameters
        unknown = set(parse_model_args(getattr(args, "model_arg", []))) - set(parameters)
        assert not unknown, f"{args.model} takes no {sorted(unknown)}"
    if getattr(args, "beam_arg", None):
        check_beam_options(args.beam_arg)
        combined = combine_beam_args(beam_args("in_memory"), args.beam_arg)
        if any(a.startswith("--runner=") and "Direct" not in a for a in args.beam_arg):
            assert not [a for a in combined if a.startswith("--direct_")], combined
    for name in ("data", "root"):
        path = getattr(args, name, None)
        if name == "data" and path and not is_outside(path):
            assert os.path.exists(path), f"--data {path}: missing"
    return args


def check_make_target(target, expected):
    """`make -n <target>` runs and its recipe contains `expected`; returns its recipe lines."""
    result = subprocess.run(["make", "-n", target], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if expected in line]
    assert lines, f"make -n {target} does not run {expected!r}:\n{result.stdout}"
    return lines


def check_docker(words):
    import apache_beam
    if words[1] == "run":
        image = next(w for w in words[2:] if not w.startswith("-"))
        assert image.split(":")[-1] == apache_beam.__version__, (
            f"{image}: the job server must match the installed Beam {apache_beam.__version__}")
    elif words[1] == "build":
        assert words[-1] == "." and os.path.exists(os.path.join(REPO, "Dockerfile"))
        assert words[words.index("-t") + 1] == "REGISTRY/ctr-pipeline:TAG"
    else:
        assert words[1:] == ["push", "REGISTRY/ctr-pipeline:TAG"], words


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return str(tmp_path_factory.mktemp("readme"))


@pytest.fixture(scope="module")
def census_dir(tmp):
    """What `python -m data census --rows N --out DIR` writes (the README names the file)."""
    out = os.path.join(tmp, "census")
    subprocess.run([sys.executable, "-m", "data", "census", "--rows", "50", "--out", out],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL, timeout=300)
    return out


def parse_commands():
    return [c for c in all_commands() if COMMANDS.get(classify(c), (None,))[0] == PARSE]


@pytest.mark.parametrize("command", parse_commands())
def test_parse_command(command, tmp, census_dir, request):
    command = substitute(command, tmp).replace("DIR/census-income.sample",
                                               os.path.join(census_dir, "census-income.sample"))
    words = shlex.split(command)
    if words[0] == "make":
        recipe = check_make_target(words[1], {"demo": "-m pipeline demo",
                                              "test": "tests/run_suite.py"}[words[1]])
        if words[1] == "demo":
            check_pipeline_command(pipeline_argv(shlex.split(recipe[0])))
        else:
            # its two pytest sessions on tests/ select complementary sets: every test runs once
            import run_suite
            assert sorted(run_suite.SESSIONS.values()) == [["-m", "not pipeline"],
                                                           ["-m", "pipeline"]]
        return
    if words[0] == "docker":
        check_docker(words)
        return
    if words[0].startswith("--beam-arg"):
        check_pipeline_command(["run", "--dataset", "criteo", *words])
        return
    if "multitask --data" in command:  # reads what `python -m data multitask` writes
        request.getfixturevalue("data_commands")
    for argv in variants(pipeline_argv(words)):
        check_pipeline_command(argv)


# ---- running ----

def _run(command):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    result = subprocess.run(command, shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=2400)
    return result.returncode, result.stdout


def with_root(command, tmp):
    """A pipeline run without --root gets <tmp>/<dataset> (one root per dataset, shared)."""
    words = shlex.split(command)
    if "-m" in words and words[words.index("-m") + 1] == "pipeline" and "--root" not in words:
        dataset = words[words.index("--dataset") + 1]
        command += f" --root {shlex.quote(os.path.join(tmp, dataset))}"
    return command


def run_commands(pipeline):
    return [c for c in all_commands() if COMMANDS.get(classify(c), (None,))[0] == RUN
            and (" -m pipeline " in c) == pipeline]


@pytest.fixture(scope="module")
def data_commands(tmp):
    """The README's data-generating commands, run once in README order."""
    return {c: _run(with_root(substitute(c, tmp), tmp)) for c in run_commands(pipeline=False)}


def shared_command(command, shared):
    """The name of the shared criteo root's command (tests/shared_runs.py) that is this README
    command, or None: the same arguments in a root of the same name."""
    base = os.path.dirname(shared.root)
    return shared.find(pipeline_argv(shlex.split(with_root(substitute(command, base), base))))


def run_own_pipeline_commands(tmp):
    """The README's pipeline runs that are not the shared criteo root's, in README order, each
    with a root under `tmp` (a background run: tests/background_runs.py)."""
    template = shared_runs.criteo_cli_root(tmp)  # only to recognise the shared commands
    return {c: _run(with_root(substitute(c, tmp), tmp)) for c in run_commands(pipeline=True)
            if not shared_command(c, template)}


register_background_run("own_pipeline_runs", run_own_pipeline_commands)


@pytest.fixture(scope="module")
def own_pipeline_runs(background):
    return background.result("own_pipeline_runs")


@pytest.fixture(scope="module")
def pipeline_runs(own_pipeline_runs, criteo_cli_root):
    """The README's pipeline runs, in README order (a later run may reuse an earlier's cache).
    A run that is one of the shared criteo root's commands is read from there (its root,
    tests/test_cli_output.py checks further, is the one with the same name under another
    temporary folder), the others from this module's own."""
    return {c: (criteo_cli_root.result(shared_command(c, criteo_cli_root))
                if shared_command(c, criteo_cli_root) else own_pipeline_runs[c])
            for c in run_commands(pipeline=True)}


@pytest.mark.parametrize("command", run_commands(pipeline=False))
def test_data_command(command, data_commands, tmp):
    status, output = data_commands[command]
    assert status == 0, output
    if "--out /tmp/mtl" in command:
        assert os.path.exists(os.path.join(tmp, "mtl", "train.csv")), os.listdir(tmp)


@pytest.mark.pipeline
@pytest.mark.parametrize("command", run_commands(pipeline=True))
def test_pipeline_command(command, pipeline_runs):
    status, output = pipeline_runs[command]
    assert status == 0, output
    assert re.search(r"^Report: \S+\.html$", output, re.MULTILINE), output
    if command == ".venv/bin/python -m pipeline run --dataset criteo":
        # the first run a newcomer makes: defaults chosen for the sample, and blessed
        # the 2k sample's 8 training hash buckets of 10 (spec split train 8, validation 1, test 1)
        assert "Defaults for ~1,600 training rows" in output, output
        assert re.search(r"^Blessed: True$", output, re.MULTILINE), output
    if "--data path/to/criteo_sample.txt" in command:
        # the same input as the first run in the same root: not ingested again. (Transform and
        # the Trainer are cache hits too unless their code changed between the two runs; the
        # Evaluator runs again: it now has the first model as its baseline.)
        for component in ("CsvExampleGen", "StatisticsGen"):
            assert re.search(rf"^\[\s*\d+:\d\d\] {component} +cached", output, re.MULTILINE), (
                component, output)


# ---- the other blocks ----

def blocks_of(kind):
    return [block for _, block in readme_blocks() if block_kind(block) == kind]


def test_sample_output_names_the_pipeline_components_and_cli_labels():
    from pipeline.progress import __file__ as progress_file  # noqa: F401
    cli = open(os.path.join(REPO, "pipeline", "cli.py")).read()
    for block in blocks_of("Log: runs/criteo/logs/"):
        names = set(re.findall(r"^\[\s*\d+:\d\d\] (\w+)", block, re.MULTILINE))
        assert names <= {"CsvExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema",
                         "ExampleValidator", "Transform", "Trainer", "Evaluator", "Pusher",
                         "latest_blessed_model_resolver"}, names
        for label in re.findall(r"^(Log|Report|Full log): ", block, re.MULTILINE):
            assert f'"{label}: ' in cli or f"f\"{label}: " in cli, label


def test_leaderboard_header_is_what_compare_writes():
    from pipeline.compare import format_leaderboard
    for block in blocks_of("| # | model | test AUC |"):
        assert block.strip() == format_leaderboard([]).splitlines()[0]


def test_crontab_line_is_the_deployed_one_and_parses():
    for block in blocks_of("15 3 * * * cd /opt/ctr-pipeline"):
        assert block.strip() in open(os.path.join(REPO, "deploy", "crontab.example")).read()
        minute, hour, dom, month, dow, command = block.split(None, 5)
        assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24 and {dom, month, dow} == {"*"}
        words = shlex.split(command)
        argv = pipeline_argv(words[:words.index(">>")])
        assert argv[0] == "retrain"
        check_pipeline_command(argv)


def test_python_blocks():
    from pipeline.compare import format_leaderboard  # noqa: F401  (imports settle TF first)
    for block in blocks_of("import kfp"):
        compile(block, "README.md", "exec")
    blocks = blocks_of("from ctr_models.feature_column import")
    assert blocks
    for block in blocks:
        namespace = {}
        exec(compile(block, "README.md", "exec"), namespace)
        assert {"SparseFeat", "DeepFM", "custom_objects"} <= set(namespace)


def test_tf_config_block_is_valid_json():
    for block in blocks_of("TF_CONFIG="):
        config = json.loads(shlex.split(block.split("=", 1)[1])[0])
        assert config["cluster"]["worker"] and config["task"]["type"] == "worker"


def test_behaviour_block_is_the_spec_section():
    spec = yaml.safe_load(open(os.path.join(REPO, "data", "specs", "behaviour.yaml")))
    for block in blocks_of("behaviour: {user: user_id"):
        shown = yaml.safe_load(block)["behaviour"]
        assert {k: spec["behaviour"].get(k) for k in shown} == shown


def test_split_block_lines_are_valid_split_sections():
    from components.dataset_spec import DatasetSpec
    blocks = blocks_of("split: {train: 8, validation: 1, test: 1}")
    assert blocks
    orders = []
    for block in blocks:
        for line in block.splitlines():
            raw = {"labels": [{"name": "label", "column": "label"}], "dense": ["x"],
                   **yaml.safe_load(line)}
            orders.append(DatasetSpec.from_dict(raw).split_order)
    assert sorted(set(orders)) == ["files", "hash", "time", "values"]


def test_no_readme_command_writes_outside_its_root():
    """The RUN commands must not write into the checkout (runs/ in the repo) when they run here:
    each gets a root under the test's temporary folder."""
    for command in run_commands(pipeline=True):
        assert "--root " in with_root(substitute(command, "/tmp/x"), "/tmp/x")
    assert not glob.glob(os.path.join(REPO, "runs", "readme*"))


def test_training_defaults_are_what_the_readme_says():
    """The README's 'Training defaults fit the data' paragraph, computed by training_schedule
    (the first criteo run above also checks the bundled sample gets them and is blessed)."""
    from components.dataset_spec import load_spec
    from pipeline.run import count_examples, training_schedule
    readme = " ".join(open(README).read().split())
    criteo, movielens = load_spec("criteo"), load_spec("movielens")
    sample = training_schedule(count_examples(os.path.dirname(SAMPLE_CRITEO),
                                              os.path.basename(SAMPLE_CRITEO), "csv"), criteo)
    # the train split is 8/10 of the rows (train: 8, validation: 1, test: 1)
    assert (sample.batch_size, sample.epochs, sample.train_steps) == (64, 2, 50)
    assert training_schedule(1000, movielens).batch_size == 32
    demo = training_schedule(100_000, criteo)
    assert (demo.batch_size, demo.epochs, demo.train_steps) == (1024, 1, 79)
    huge = training_schedule(50_000_000, criteo)
    assert (huge.train_steps, huge.epochs, huge.capped) == (10_000, 1, True)
    tiny = training_schedule(100, criteo)  # 80 rows: the smallest batch, at most 2 epochs
    assert (tiny.batch_size, tiny.epochs, tiny.train_steps) == (32, 2, 6)
    given = training_schedule(100, criteo, batch_size=1024, train_steps=3)
    assert (given.batch_size, given.train_steps, given.chosen) == (1024, 3, ())
    assert given.describe() == ""
    assert training_schedule(2000, criteo, epochs=3).train_steps == 3 * 25
    assert "batch 64" in sample.describe() and "2 epochs = 50 steps" in sample.describe()
    for fact in ("largest power of two from 32 to 1024", "at least 25 steps per epoch",
                 "as many epochs as reach 50 steps but at most 2", "at most 10,000 steps"):
        assert fact in readme, fact


def test_summary_counts_the_examples_trained_on_as_the_readme_shows():
    from components.dataset_spec import load_spec
    from pipeline.reporting.summary import RunReport
    from pipeline.run import training_schedule
    schedule = training_schedule(2000, load_spec("criteo"))
    report = RunReport(pipeline_name="p", run_id="r", components=[], overall={}, slices=[],
                       blessed=True, pushed_model=None, evaluation_uri=None, model_uri=None,
                       training={"model": "DeepFM", "model_args": {}, "train_steps": 50,
                                 "batch_size": 64, "examples_per_second": 512.0},
                       schedule=schedule)
    text = report.format(timings=False)
    line = next(line for line in text.splitlines() if line.startswith("Training:"))
    assert line == ("Training: DeepFM {}, 50 steps x batch 64 = 3,200 examples (2 passes "
                    "over ~1,600 training rows), 512.0 examples/s")
    assert line.rsplit(", ", 1)[0] in " ".join(open(README).read().split())
    assert schedule.describe() in text
    # without a schedule (a report read back later) the passes are left out, not guessed
    report.schedule = None
    assert "3,200 examples, 512.0" in report.format(timings=False)
