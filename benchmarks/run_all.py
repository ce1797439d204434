"""`make bench`: runs every benchmark and writes its results into BENCHMARKS.md.

Each benchmark is a module whose `main()` prints a Markdown section (figures, the reference's
figures from the same run, ratios). Every one runs in its own process, one after another, and its
output replaces the block between its two markers in BENCHMARKS.md:

    <!-- make bench: NAME -->
    ... (generated) ...
    <!-- end make bench: NAME -->

Text outside the markers (what the figures mean, profiles, decisions) is kept. A block without
markers yet is appended at the end under its own heading. A benchmark that fails leaves its
previous block in place and makes the command exit 1 (the error tail is printed).

The scale benchmark runs the demo's pipeline on the demo's 100,000 generated rows (so its
components are `make demo`'s), and its run root is the one that the serving and Evaluator
benchmarks measure (the Evaluator on the demo's 10k eval rows); without it (`--only serving`) the
serving benchmark makes a small demo run of its own and the Evaluator benchmark is skipped. The
`sample` benchmark runs DeepCTR's 200-row criteo_sample.txt end to end when that file is there
(`../shared/data`, or the path in $CTR_CRITEO_SAMPLE; skipped otherwise). `scale_1m` (1M rows,
most of an hour on 2 cores) runs only when named: `make bench-1m`.

    python -m benchmarks.run_all                    # all but scale_1m, into BENCHMARKS.md
    python -m benchmarks.run_all --only startup,serving --output /tmp/b.md
"""
import argparse
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> (module, arguments, heading used when the block is appended), in running order.
# "{work}": this run's scratch folder; "{root}": the scale benchmark's run root; "{sample}":
# DeepCTR's criteo_sample.txt. Issue 11's goals: make demo <= 120 s of components, the 200-row
# sample <= 95 s end to end.
BENCHMARKS = {
    "throughput": ("benchmarks.throughput", [], "Trainer throughput vs DeepCTR 0.9.4"),
    "startup": ("benchmarks.startup", [], "Fixed costs up to the first training step"),
    "scale": ("benchmarks.scale", ["--rows", "100000", "--seed", "0", "--out",
                                       "{work}/scale", "--goal-components", "120"],
              "The demo pipeline (make demo's 100k rows) vs pandas + scikit-learn"),
    "sample": ("benchmarks.scale", ["--data", "{sample}", "--out", "{work}/sample",
                                        "--goal-wall", "95"],
               "DeepCTR's 200-row Criteo sample end to end"),
    "scale_1m": ("benchmarks.scale", ["--rows", "1000000", "--out", "{work}/scale_1m"],
                 "Pipeline components at 1M rows vs pandas + scikit-learn"),
    "serving": ("benchmarks.serving", ["--root", "{root}"],
                "Serving latency of the pushed SavedModel"),
    "evaluator": ("benchmarks.evaluator", ["--root", "{root}", "before", "after"],
                  "Evaluator on the scale run's eval split"),
    "epochs": ("benchmarks.epochs", ["--root", "{root}"],
               "More epochs with and without early stopping"),
}
# without a scale root: what to run instead (None: skip)
WITHOUT_ROOT = {"serving": [], "evaluator": None, "epochs": None}
ONLY_WHEN_NAMED = {"scale_1m"}
BEGIN, END = "<!-- make bench: {} -->", "<!-- end make bench: {} -->"
log = logging.getLogger(__name__)


def machine():
    """One line naming the machine a run was measured on."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.system()} {platform.release()}; "
            f"load average at the start {load}")


def replace_block(document, name, body, heading):
    """`document` with the block of benchmark `name` replaced by `body` (appended, under
    `heading`, when the document has no such block)."""
    begin, end = BEGIN.format(name), END.format(name)
    # a benchmark's own headings sit below the section's: "## x" -> "#### x"
    body = re.sub(r"^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", body.strip(),
                  flags=re.MULTILINE)
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: block, document, count=1)
    return f"{document.rstrip()}\n\n## {heading} (`make bench`)\n\n{block}\n"


def criteo_sample_path():
    """DeepCTR's criteo_sample.txt: $CTR_CRITEO_SAMPLE, else ../shared/data beside the repo."""
    return os.environ.get("CTR_CRITEO_SAMPLE") or os.path.join(
        os.path.dirname(REPO), "shared", "data", "criteo_sample.txt")


def benchmark_args(name, work, root, sample=None):
    """The arguments of benchmark `name` with the placeholders filled in; None: cannot run."""
    args = BENCHMARKS[name][1]
    if any("{root}" in a for a in args) and root is None:
        args = WITHOUT_ROOT[name]
        if args is None:
            return None
    if any("{sample}" in a for a in args) and not (sample and os.path.isfile(sample)):
        return None
    return [a.format(work=work, root=root, sample=sample) for a in args]


def run_benchmark(name, args, python=sys.executable):
    """(ok, Markdown body) of one benchmark run in its own process."""
    module = BENCHMARKS[name][0]
    command = [python, "-m", module, *args]
    header = (f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}.\n"
              f"Command: `{' '.join(['python', '-m', module, *args])}`.\n")
    start = time.monotonic()
    # from the repository: benchmarks/ is importable from there only (it is not installed)
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        return False, (f"`{' '.join(command)}` failed (exit {done.returncode}) after "
                       f"{seconds:.0f} s:\n{done.stderr[-3000:]}")
    return True, f"{header}\n{done.stdout.strip()}\n\n(The benchmark took {seconds:.0f} s.)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)} "
                                       f"(default: all but {','.join(sorted(ONLY_WHEN_NAMED))})")
    parser.add_argument("--output", default="BENCHMARKS.md",
                        help="the Markdown file whose blocks are replaced (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = (args.only.split(",") if args.only else
             [n for n in BENCHMARKS if n not in ONLY_WHEN_NAMED])
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    failed = []
    work = tempfile.mkdtemp(prefix="ctr-bench-")
    root, sample = None, criteo_sample_path()
    for name in sorted(names, key=list(BENCHMARKS).index):
        bench_args = benchmark_args(name, work, root, sample)
        if bench_args is None:
            log.warning("bench %s: skipped (%s)", name,
                        f"no {sample}: set CTR_CRITEO_SAMPLE" if name == "sample" else
                        "it measures the scale benchmark's run root: run scale too")
            continue
        log.info("bench %s: running python -m %s %s", name, BENCHMARKS[name][0],
                 " ".join(bench_args))
        ok, body = run_benchmark(name, bench_args)
        if ok and name == "scale":
            root = os.path.join(work, "scale", "root")
        if not ok:
            failed.append(name)
            log.error("bench %s: %s", name, body)
            continue
        # Re-read and write after each benchmark: an interrupted `make bench` keeps what ran.
        document = open(args.output).read() if os.path.exists(args.output) else "# Benchmarks\n"
        with open(args.output, "w") as f:
            f.write(replace_block(document, name, body, BENCHMARKS[name][2]))
        log.info("bench %s: written into %s", name, args.output)
    log.info("scratch folder (data, run root): %s", work)
    if failed:
        log.error("failed: %s (their previous blocks are unchanged)", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
