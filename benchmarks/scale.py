"""The pipeline at scale: `python -m benchmarks.scale --rows N [--out DIR] [-- run options]`.

Generates N Criteo-format rows (data/generators.py), runs `python -m pipeline run --dataset
criteo` on them into an empty root in a child process, and reports per component its wall time
(ML-Metadata execution times) and the peak resident memory of the run's processes while it ran
(the pipeline process and its Beam workers, sampled with psutil). Then, in another child
process, the reference: pandas reads the same CSV and scikit-learn encodes it (a LabelEncoder
per categorical column, a MinMaxScaler over the dense columns, fit + transform), with the ratio
Transform / pandas + scikit-learn. Prints a Markdown section.

`--examplegen CSV` measures ExampleGen's reading and writing alone (fast_csv's reader ->
gzipped TFRecords) with each way of writing (`--writes`): none (no shuffle), reshuffle (the
beam.Reshuffle TFX's write_split puts before the write) and shards (the executors' own write,
components/shuffled_write.py): time and peak memory of the launching process and of all
processes.

`--rows 100000` (seed 0) are the rows `make demo` generates and the run is the demo's pipeline,
so its components are those of `make demo`. `--data CSV` measures a given Criteo-format CSV
instead (e.g. DeepCTR's 200-row criteo_sample.txt). `--goal-components S` / `--goal-wall S` add a
met/missed line for the components' total / the whole run's wall time. The 1M-row figure:

    python -m benchmarks.scale --rows 1000000 --out /tmp/bench-scale-1m
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

PIPELINE_NAME = "ctr_criteo"
DEMO_DATA = (100_000, 0)  # (rows, seed) that `make demo` generates
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data_rows(csv_path):
    """Data rows of a CSV with a header line."""
    with open(csv_path, "rb") as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


def sklearn_encode(df, categorical, dense):
    """The reference encoding: one LabelEncoder per categorical column (a missing value is the
    category ''), one MinMaxScaler over the dense columns (a missing value is 0), each fit and
    applied to all rows. Returns (int ids [rows, len(categorical)], floats [rows, len(dense)])."""
    import numpy as np
    from sklearn.preprocessing import LabelEncoder, MinMaxScaler
    ids = np.empty((len(df), len(categorical)), dtype=np.int64)
    for i, column in enumerate(categorical):
        ids[:, i] = LabelEncoder().fit_transform(df[column].fillna("").astype(str).to_numpy())
    scaled = MinMaxScaler().fit_transform(df[dense].astype("float64").fillna(0.0).to_numpy())
    return ids, scaled


def reference(csv_path):
    """Seconds of pandas' read_csv and of sklearn_encode on the file, and this process's peak
    RSS (bytes)."""
    import pandas as pd
    from data.generators import CRITEO_DENSE, CRITEO_SPARSE
    start = time.perf_counter()
    df = pd.read_csv(csv_path, dtype={c: str for c in CRITEO_SPARSE})
    read = time.perf_counter() - start
    start = time.perf_counter()
    ids, scaled = sklearn_encode(df, CRITEO_SPARSE, CRITEO_DENSE)
    encode = time.perf_counter() - start
    return {"rows": len(df), "read_s": read, "encode_s": encode,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every `interval` seconds:
    `samples` is a list of (time.time(), bytes)."""

    def __init__(self, pid, interval=0.5):
        super().__init__(daemon=True)
        import psutil
        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples = []
        self.root_samples = []  # (time.time(), bytes) of the root process alone
        self.stopped = threading.Event()

    def run(self):
        import psutil
        while not self.stopped.is_set():
            total = 0
            try:
                processes = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            root = 0
            for p in processes:
                try:
                    rss = p.memory_info().rss
                except psutil.NoSuchProcess:  # a Beam worker that just ended
                    continue
                total += rss
                root = rss if p.pid == self.root.pid else root
            now = time.time()
            self.samples.append((now, total))
            self.root_samples.append((now, root))
            self.stopped.wait(self.interval)

    def peak(self, start=None, end=None):
        """Largest sample in [start, end] (seconds since the epoch); None without samples."""
        inside = [rss for t, rss in self.samples
                  if (start is None or t >= start) and (end is None or t <= end)]
        return max(inside) if inside else None


WRITES = {"none": "none (input order)", "reshuffle": "TFX's beam.Reshuffle (write_split)",
          "shards": "shuffled through shard files (shuffled_write)"}


def examplegen_probe(csv_path, out_dir, write, range_bytes):
    """The child process of `--examplegen`: fast_csv's reader -> gzipped TFRecords written
    as `write` says (WRITES), on the DirectRunner in multi_processing mode with 2 workers (the
    CLI's multi_processing)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from components import fast_csv, shuffled_write
    from tfx.utils import io_utils
    names = io_utils.load_csv_column_names(csv_path)
    options = PipelineOptions(direct_running_mode="multi_processing", direct_num_workers=2)
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        examples = fast_csv.read_csv_examples(pipeline, [csv_path], names, True, range_bytes)
        if write == "shards":
            shards = shuffled_write.shard_count(shuffled_write.CSV_EXPANSION
                                                * os.path.getsize(csv_path))
            pieces = os.path.join(out_dir, "pieces")
            os.makedirs(pieces)
            _ = examples | shuffled_write.WriteShuffledSplit(
                os.path.join(out_dir, "examples"), pieces, shards, shuffled_write.DEFAULT_SEED)
        else:
            if write == "reshuffle":
                examples = examples | "Shuffle" >> beam.Reshuffle()
            _ = examples | beam.io.WriteToTFRecord(os.path.join(out_dir, "examples"),
                                                   file_name_suffix=".gz")
    shutil.rmtree(os.path.join(out_dir, "pieces"), ignore_errors=True)
    return {"seconds": time.perf_counter() - start}


def measure_examplegen(csv_path, out, range_bytes, writes=tuple(WRITES)):
    """Markdown rows: ExampleGen's reading and writing alone with each of `writes`, memory of
    the launching process and of all processes sampled."""
    rows = []
    load_before = os.getloadavg()[0]
    for write in writes:
        target = os.path.join(out, f"examplegen-{write}")
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        command = [sys.executable, "-m", "benchmarks.scale", "--examplegen-child", csv_path,
                   "--probe-out", target, "--range-bytes", str(range_bytes), "--write", write]
        start = time.perf_counter()
        with open(os.path.join(target, "probe.out"), "w") as log:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            memory = TreeMemory(child.pid)
            memory.start()
            status = child.wait()
            memory.stopped.set()
            memory.join()
        if status != 0:
            raise SystemExit(f"{' '.join(command)} failed ({status}); see {target}/probe.out")
        root_peak = max((rss for _, rss in memory.root_samples), default=None)
        rows.append(f"| {WRITES[write]} | {time.perf_counter() - start:.0f} "
                    f"| {_gib(root_peak)} | {_gib(memory.peak())} |")
    return "\n".join([
        f"ExampleGen's reading and writing alone on {os.path.basename(csv_path)} "
        f"({os.path.getsize(csv_path) / 2**20:.0f} MB, {_data_rows(csv_path):,} rows), "
        f"ranges of {range_bytes / 2**20:.0f} MiB, DirectRunner multi_processing, 2 workers, "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end:",
        "",
        "| write | wall s | launching process peak GiB | all processes peak GiB |",
        "|---|--:|--:|--:|",
    ] + rows)


def component_intervals(metadata_path, pipeline_name=PIPELINE_NAME):
    """[(component, state, start, end)] of the latest run, in seconds since the epoch, from the
    ML-Metadata executions (create and last update times)."""
    from pipeline.reporting import metadata
    store = metadata.open_store(metadata_path)
    run = metadata.latest_run(store, pipeline_name)
    return [(c.node_id, c.state, c.started, c.ended)
            for c in metadata.component_runs(store, metadata.run_executions(store, run))]


def run_pipeline_measured(data_dir, root, extra, log_path):
    """`python -m pipeline run` in a child process, its process tree's memory sampled. Returns
    (wall seconds, TreeMemory, peak RSS of the largest child process from getrusage)."""
    command = [sys.executable, "-m", "pipeline", "run", "--dataset", "criteo", "--data",
               data_dir, "--root", root] + list(extra)
    start = time.perf_counter()
    with open(log_path, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        memory = TreeMemory(child.pid)
        memory.start()
        status = child.wait()
        memory.stopped.set()
        memory.join()
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status}); see {log_path}")
    return seconds, memory, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _gib(value):
    return "-" if value is None else f"{value / 2**30:.2f}"


def format_section(rows, command, components, memory, run_seconds, child_peak, ref, load,
                   data_note, beam_note, goals=(None, None),
                   title="Pipeline at scale (issue 11, goals 4 and 5)"):
    transform = next((end - start for name, _, start, end in components
                      if name == "Transform"), None)
    lines = [
        f"## {title}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load[0]:.1f} before / {load[1]:.1f} after "
        f"(a shared machine: other jobs ran beside it, so the seconds are upper bounds). "
        f"{data_note}, empty root{beam_note}.",
        "",
        "    " + command,
        "",
        "| component | state | wall s | peak RSS of the run's processes (GiB) |",
        "|---|---|--:|--:|",
    ]
    for name, state, start, end in components:
        lines.append(f"| {name} | {state} | {end - start:.1f} | {_gib(memory.peak(start, end))} |")
    total = sum(end - start for _, _, start, end in components)
    lines += [
        f"| **components** | | **{total:.1f}** | {_gib(memory.peak())} |",
        "",
        f"Wall time of `python -m pipeline run` (start-up included): {run_seconds:.0f} s; "
        f"largest single process (getrusage of the children): {_gib(child_peak)} GiB.",
    ]
    goal_components, goal_wall = goals
    if goal_components is not None:
        lines.append(f"Goal: components <= {goal_components:.0f} s: "
                     f"{'met' if total <= goal_components else '**missed**'} ({total:.1f} s).")
    if goal_wall is not None:
        lines.append(f"Goal: the whole run <= {goal_wall:.0f} s: "
                     f"{'met' if run_seconds <= goal_wall else '**missed**'} ({run_seconds:.0f} s).")
    lines += [
        "",
        f"Reference, same CSV, same machine, after the run: pandas `read_csv` "
        f"{ref['read_s']:.1f} s + scikit-learn fit + transform (LabelEncoder x 26, MinMaxScaler "
        f"over 13 dense) {ref['encode_s']:.1f} s, peak RSS {_gib(ref['peak_rss'])} GiB.",
    ]
    if transform is not None:
        both = ref["read_s"] + ref["encode_s"]
        lines.append(
            f"Transform / (read + fit + transform) = {transform:.1f} / {both:.1f} s = "
            f"**{transform / both:.1f}x**; Transform / (fit + transform) = "
            f"{transform / ref['encode_s']:.1f}x. Goal (within 2x): "
            f"{'met' if transform / both <= 2 else '**missed**'}. Transform also reads "
            f"ExampleGen's TFRecords, computes the vocabulary with its frequency threshold, "
            f"writes both transformed splits and saves the transform graph.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for the data and the run root (default: a "
                                      "temporary folder, removed afterwards)")
    parser.add_argument("--data", metavar="CSV",
                        help="a Criteo-format CSV with a header to run on instead of generated rows")
    parser.add_argument("--goal-components", type=float, metavar="S",
                        help="report whether the components took at most S seconds in all")
    parser.add_argument("--goal-wall", type=float, metavar="S",
                        help="report whether the whole run took at most S seconds")
    parser.add_argument("--examplegen", metavar="CSV",
                        help="measure ExampleGen's reading and writing alone on this CSV with "
                             "each of --writes (memory probe)")
    parser.add_argument("--range-bytes", type=int, default=None,
                        help="byte range size for --examplegen (default fast_csv.RANGE_BYTES)")
    parser.add_argument("--reference", metavar="CSV", help=argparse.SUPPRESS)
    parser.add_argument("--examplegen-child", metavar="CSV", help=argparse.SUPPRESS)
    parser.add_argument("--probe-out", help=argparse.SUPPRESS)
    parser.add_argument("--writes", default=",".join(WRITES),
                        help=f"the writes --examplegen measures, comma-separated, of "
                             f"{list(WRITES)}")
    parser.add_argument("--write", choices=list(WRITES), help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if args.reference:  # the child process of the reference measurement
        print(json.dumps(reference(args.reference)))
        return 0
    if args.examplegen_child:  # the child process of the ExampleGen probe
        print(json.dumps(examplegen_probe(args.examplegen_child, args.probe_out, args.write,
                                          args.range_bytes)))
        return 0
    if args.examplegen:
        out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix="bench-eg-")
        try:
            from components.fast_csv import RANGE_BYTES
            writes = [w for w in args.writes.split(",") if w]
            unknown = [w for w in writes if w not in WRITES]
            if unknown or not writes:
                raise SystemExit(f"--writes {args.writes}: choose among {list(WRITES)}")
            print(measure_examplegen(os.path.abspath(args.examplegen), out,
                                     args.range_bytes or RANGE_BYTES, writes))
        finally:
            if not args.out:
                shutil.rmtree(out, ignore_errors=True)
        return 0
    extra = [a for a in extra if a != "--"]
    load_before = os.getloadavg()[0]
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix="bench-scale-")
    data_dir, root = os.path.join(out, "data"), os.path.join(out, "root")
    if os.path.exists(os.path.join(root, "metadata.sqlite")):
        raise SystemExit(f"--out {out}: holds a run root already; use an empty folder")
    os.makedirs(out, exist_ok=True)
    try:
        if args.data:
            csv_path = os.path.abspath(args.data)
            if not os.path.isfile(csv_path):
                raise SystemExit(f"--data {args.data}: no such file")
            rows = _data_rows(csv_path)
            data_note = f"{os.path.basename(csv_path)} ({rows:,} rows)"
        else:
            from data.generators import write_criteo
            start = time.perf_counter()
            csv_path = write_criteo(data_dir, rows=args.rows, seed=args.seed)["path"]
            rows = args.rows
            data_note = (f"{rows:,} generated Criteo-format rows, seed {args.seed} "
                         f"({time.perf_counter() - start:.0f} s to generate)")
            if (rows, args.seed) == DEMO_DATA:
                data_note += " (the rows and pipeline of `make demo`)"
        size = os.path.getsize(csv_path)
        run_seconds, memory, child_peak = run_pipeline_measured(
            csv_path, root, extra, os.path.join(out, "pipeline.out"))
        components = component_intervals(os.path.join(root, "metadata.sqlite"))
        ref = json.loads(subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", "--reference", csv_path],
            check=True, capture_output=True, text=True, cwd=REPO).stdout.strip().splitlines()[-1])
        beam = "multi_processing" if size > 100 * 2**20 else "in_memory"  # as --beam-mode auto
        for i, option in enumerate(extra):
            if option == "--beam-mode" and i + 1 < len(extra):
                beam = extra[i + 1]
            elif option.startswith("--beam-mode="):
                beam = option.split("=", 1)[1]
        command = "python -m benchmarks.scale " + " ".join(
            argv if argv is not None else sys.argv[1:])
        if args.out:  # the raw figures, for another look later
            with open(os.path.join(out, "bench_scale.json"), "w") as f:
                json.dump({"rows": rows, "components": components, "reference": ref,
                           "run_seconds": run_seconds, "child_peak_rss": child_peak,
                           "memory_samples": memory.samples}, f)
        print(format_section(rows, command.strip(), components, memory, run_seconds,
                             child_peak, ref, (load_before, os.getloadavg()[0]), data_note,
                             f", {size / 2**20:.0f} MB of CSV, Beam {beam}",
                             (args.goal_components, args.goal_wall),
                             f"Pipeline end to end on {os.path.basename(csv_path)}" if args.data
                             else "Pipeline at scale (issue 11, goals 4 and 5)"))
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
