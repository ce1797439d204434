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

The scale benchmark's pipeline run (generated Criteo rows, default settings) is also the run root
that the serving and Evaluator benchmarks measure; without it (`--only serving`) the serving
benchmark makes a small demo run of its own and the Evaluator benchmark is skipped.

    python -m pipeline.bench_all                    # all, into BENCHMARKS.md
    python -m pipeline.bench_all --only startup,serving --output /tmp/b.md
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

# name -> (module, arguments, heading used when the block is appended), in running order.
# "{work}": this run's scratch folder; "{root}": the scale benchmark's run root.
BENCHMARKS = {
    "throughput": ("pipeline.bench", [], "Trainer throughput vs DeepCTR 0.9.4"),
    "startup": ("pipeline.bench_startup", [], "Fixed costs up to the first training step"),
    "scale": ("pipeline.bench_scale", ["--out", "{work}/scale"],
              "Pipeline components at scale vs pandas + scikit-learn"),
    "serving": ("pipeline.bench_serving", ["--root", "{root}"],
                "Serving latency of the pushed SavedModel"),
    "evaluator": ("pipeline.bench_evaluator", ["--root", "{root}", "before", "after"],
                  "Evaluator on the scale run's eval split"),
}
# without a scale root: what to run instead (None: skip)
WITHOUT_ROOT = {"serving": [], "evaluator": None}
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


def benchmark_args(name, work, root):
    """The arguments of benchmark `name` with the placeholders filled in; None: cannot run."""
    args = BENCHMARKS[name][1]
    if any("{root}" in a for a in args) and root is None:
        args = WITHOUT_ROOT[name]
        if args is None:
            return None
    return [a.format(work=work, root=root) for a in args]


def run_benchmark(name, args, python=sys.executable):
    """(ok, Markdown body) of one benchmark run in its own process."""
    module = BENCHMARKS[name][0]
    command = [python, "-m", module, *args]
    header = (f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}.\n"
              f"Command: `{' '.join(['python', '-m', module, *args])}`.\n")
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        return False, (f"`{' '.join(command)}` failed (exit {done.returncode}) after "
                       f"{seconds:.0f} s:\n{done.stderr[-3000:]}")
    return True, f"{header}\n{done.stdout.strip()}\n\n(The benchmark took {seconds:.0f} s.)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--output", default="BENCHMARKS.md",
                        help="the Markdown file whose blocks are replaced (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    failed = []
    work = tempfile.mkdtemp(prefix="ctr-bench-")
    root = None
    for name in sorted(names, key=list(BENCHMARKS).index):
        bench_args = benchmark_args(name, work, root)
        if bench_args is None:
            log.warning("bench %s: skipped (it measures the scale benchmark's run root: run "
                        "scale too)", name)
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
