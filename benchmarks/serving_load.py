"""Load on `python -m pipeline serve`: `python -m benchmarks.serving_load --model-dir DIR`.

DIR is a folder of version folders (a run root's `serving/`, or a copy). On loopback only, with
bounded counts and times:
- the in-process `serving_default` call on one raw tf.Example (p50/p99) and on batches of 1024
  (examples/s): what the server adds is measured against these;
- a server started as `python -m pipeline serve --model-dir DIR --rest-port 0 --grpc-port 0`,
  batching on (`--batch-wait-ms 2`) and off (`0`): one client sending one instance per request,
  sequentially (p50/p99 over REST with a raw feature dict, and over gRPC with TF Serving's stub
  and a serialized tf.Example); then 1, 8 and 64 concurrent clients for `--seconds` each
  (requests/s = examples/s: one instance per request);
- a swap under load (`--swap-seconds`, 60 by default): 4 REST and 4 gRPC clients run while the
  Pusher's own `push_atomically` publishes a copy of the newest version as a new one; every
  request's answering version is recorded; failed requests and the switch time (the new
  folder's rename to the first answer from it) are reported.
The clients are threads of this process (Python's GIL limits them: under 64 clients they, not
the server, may be the bottleneck; the rows say so by the server's batch sizes). Prints a
Markdown section."""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.client import HTTPConnection

from benchmarks.serving import latency_stats, raw_examples, time_calls

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 1024


def raw_rows(rows, seed):
    """Generated Criteo rows as raw feature dicts of their CSV cells (missing cells and the
    label left out), as a client that logged them would send them."""
    from data.generators import generate_criteo
    df, _ = generate_criteo(rows, seed=seed)
    cells = df.astype(object).where(df.notna(), "").astype(str)
    return [{k: v for k, v in row.items() if v != "" and k != "label"}
            for row in cells.to_dict("records")]


def start_server(model_dir, batch_wait_ms, log):
    """`python -m pipeline serve` on free ports -> (process, REST base URL, gRPC address)."""
    command = [sys.executable, "-m", "pipeline", "serve", "--model-dir", model_dir,
               "--rest-port", "0", "--grpc-port", "0", "--batch-wait-ms", str(batch_wait_ms),
               "--poll-seconds", "0.5"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True,
                               env=dict(os.environ, PYTHONPATH=REPO))
    line = process.stdout.readline()
    if "REST " not in line:
        process.kill()
        raise SystemExit(f"{' '.join(command)} did not start (see {log.name}): {line!r}")
    rest = line.split("REST ")[1].split(",")[0]
    grpc_address = line.split("gRPC ")[1].split(";")[0]
    return process, rest, grpc_address


class RestClient:
    """One keep-alive connection; `predict(instances)` -> (answering version, body)."""

    def __init__(self, url):
        self.base = url.split("/v1/")[0]
        self.path = "/v1/" + url.split("/v1/")[1] + ":predict"
        host, port = self.base.split("//")[1].rsplit(":", 1)
        self.connection = HTTPConnection(host, int(port), timeout=60)

    def predict(self, instances):
        self.connection.request("POST", self.path, json.dumps({"instances": instances}),
                                {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status}: {body[:200]!r}")
        return int(answer.getheader("X-Model-Version")), body


class GrpcClient:
    def __init__(self, address, model_name):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
        self.channel = grpc.insecure_channel(address)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name = model_name

    def predict(self, examples):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
        answer = self.stub.Predict(request, timeout=60)
        return answer.model_spec.version.value, answer


def run_clients(make_client, payloads, clients, seconds):
    """`clients` threads sending payloads for `seconds` -> (requests, failures, [(time,
    version)])."""
    stop = threading.Event()
    answered, failures, lock = [], [], threading.Lock()

    def loop(number):
        client = make_client()
        i = number
        while not stop.is_set():
            try:
                version, _ = client.predict(payloads[i % len(payloads)])
                with lock:
                    answered.append((time.monotonic(), version))
            except Exception as error:  # noqa: BLE001 - counted
                with lock:
                    failures.append(repr(error)[:200])
            i += clients

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return answered, failures


def server_batches(rest_url):
    """(examples, signature calls) batched so far, from the server's Prometheus metrics."""
    with urllib.request.urlopen(rest_url.split("/v1/")[0] + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith(("serving_batch_size_sum", "serving_batch_size_count"))}
    return values.get("serving_batch_size_sum", 0.0), values.get("serving_batch_size_count", 0.0)


def measure_server(model_dir, batch_wait_ms, rows, examples, seconds, calls, log):
    process, rest_url, grpc_address = start_server(model_dir, batch_wait_ms, log)
    name = rest_url.rstrip("/").split("/")[-1]
    results = {}
    try:
        rest_client, grpc_client = RestClient(rest_url), GrpcClient(grpc_address, name)
        one_row = [[row] for row in rows]
        one_example = [[e] for e in examples]
        for api, client, payloads in (("REST", rest_client, one_row),
                                      ("gRPC", grpc_client, one_example)):
            counter = iter(range(10**9))
            results[f"{api} latency"] = latency_stats(time_calls(
                lambda: client.predict(payloads[next(counter) % len(payloads)]), calls, 50))
        for clients in (1, 8, 64):
            for api, make, payloads in (("REST", lambda: RestClient(rest_url), one_row),
                                        ("gRPC", lambda: GrpcClient(grpc_address, name),
                                         one_example)):
                examples_before, calls_before = server_batches(rest_url)
                start = time.monotonic()
                answered, failures = run_clients(make, payloads, clients, seconds)
                elapsed = time.monotonic() - start
                examples_after, calls_after = server_batches(rest_url)
                calls = calls_after - calls_before
                results[f"{api} x{clients}"] = {
                    "requests_s": len(answered) / elapsed, "failures": len(failures),
                    "batch_mean": (examples_after - examples_before) / calls if calls else None}
    finally:
        process.send_signal(signal.SIGTERM)
        results["exit_status"] = process.wait(timeout=120)
    return results


def measure_swap(model_dir, rows, examples, seconds, log):
    """Clients run for `seconds`; a third of the way in, the Pusher publishes a new version."""
    from components.pusher import push_atomically
    scratch = tempfile.mkdtemp(prefix="serving-swap-")
    base = os.path.join(scratch, "serving")
    newest = max((v for v in os.listdir(model_dir) if v.isdigit()), key=int)
    shutil.copytree(os.path.join(model_dir, newest), os.path.join(base, newest))
    process, rest_url, grpc_address = start_server(base, 2, log)
    name = rest_url.rstrip("/").split("/")[-1]
    pushed = {}

    def push_later():
        time.sleep(seconds / 3)
        pushed["version"], _ = push_atomically(os.path.join(model_dir, newest), base)
        pushed["at"] = time.monotonic()

    pusher = threading.Thread(target=push_later)
    pusher.start()
    try:
        one_row, one_example = [[row] for row in rows], [[e] for e in examples]
        results = {}

        def rest_clients():
            results["REST"] = run_clients(lambda: RestClient(rest_url), one_row, 4, seconds)

        side = threading.Thread(target=rest_clients)
        side.start()
        results["gRPC"] = run_clients(lambda: GrpcClient(grpc_address, name), one_example, 4,
                                      seconds)
        side.join()
        pusher.join()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)
    answered = sorted(results["REST"][0] + results["gRPC"][0])
    new = int(pushed["version"])
    first_new = next((t for t, v in answered if v == new), None)
    if first_new is None:
        raise SystemExit(f"version {new} never answered in {seconds} s: give more --swap-seconds")
    last_old = max(t for t, v in answered if v != new)
    return {"requests": len(answered), "failures": len(results["REST"][1] + results["gRPC"][1]),
            "old_version": int(newest), "new_version": new,
            "by_version": {v: sum(1 for _, x in answered if x == v) for v in {int(newest), new}},
            "switch_s": first_new - pushed["at"], "overlap_s": max(0.0, last_old - first_new),
            "after_switch_old": sum(1 for t, v in answered if t > first_new and v != new),
            "seconds": seconds}


def in_process(model_dir, examples, calls):
    import tensorflow as tf
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    output = sorted(signature.structured_outputs)[0]
    one = tf.constant(examples[:1])
    batch = tf.constant((examples * (BATCH // len(examples) + 1))[:BATCH])
    single = latency_stats(time_calls(lambda: signature(examples=one)[output].numpy(), calls, 50))
    seconds = time_calls(lambda: signature(examples=batch)[output].numpy(), 10, 2)
    return single, BATCH * len(seconds) / sum(seconds)


def format_section(model_dir, command, load, reference, servers, swap, seconds):
    single, batch_rate = reference
    lines = [f"## Serving over REST and gRPC (`python -m pipeline serve`, issue 21), "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, load average {load[0]:.1f} before / {load[1]:.1f} "
             f"after. Model: `{model_dir}`. Clients and server on loopback, the clients as "
             f"threads of the benchmark process.", "", "    " + command, "",
             "| one instance per request, one client | p50 ms | p99 ms | calls |",
             "|---|--:|--:|--:|",
             f"| in-process `serving_default` (no server) | {single['p50']:.2f} | "
             f"{single['p99']:.2f} | {single['calls']} |"]
    for mode, results in servers.items():
        for api in ("REST", "gRPC"):
            s = results[f"{api} latency"]
            lines.append(f"| {api}, batching {mode} | {s['p50']:.2f} | {s['p99']:.2f} | "
                         f"{s['calls']} |")
    lines += ["", f"In-process `serving_default` on batches of {BATCH}: {batch_rate:,.0f} "
                  f"examples/s.", "",
              f"| concurrent clients ({seconds:.0f} s each) | batching | REST requests/s | gRPC "
              f"requests/s | failed | examples per signature call, REST / gRPC |",
              "|--:|---|--:|--:|--:|--:|"]
    for mode, results in servers.items():
        for clients in (1, 8, 64):
            r, g = results[f"REST x{clients}"], results[f"gRPC x{clients}"]
            batches = "-" if r["batch_mean"] is None else \
                f"{r['batch_mean']:.1f} / {g['batch_mean']:.1f}"
            lines.append(f"| {clients} | {mode} | {r['requests_s']:,.0f} | {g['requests_s']:,.0f}"
                         f" | {r['failures'] + g['failures']} | {batches} |")
    lines += ["", "Examples/s equal requests/s here (one instance per request). Server exit "
                  "status on SIGTERM: " + ", ".join(f"batching {m}: {r['exit_status']}"
                                                    for m, r in servers.items()) + "."]
    if swap is not None:
        lines += ["", f"Swap under load: 4 REST + 4 gRPC clients for {swap['seconds']:.0f} s; the "
                      f"Pusher's `push_atomically` published version {swap['new_version']} "
                      f"(a copy of {swap['old_version']}) a third of the way in. "
                      f"{swap['requests']:,} requests, **{swap['failures']} failed**; answered "
                      f"by version: {swap['by_version']}. First answer from the new version "
                      f"{swap['switch_s']:.2f} s after its folder appeared (poll 0.5 s, load, "
                      f"warm-up); requests that had chosen the old version still answered "
                      f"from it for {swap['overlap_s']:.3f} s after that "
                      f"({swap['after_switch_old']} requests)."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="folder of version folders")
    parser.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    parser.add_argument("--calls", type=int, default=300, help="sequential latency calls")
    parser.add_argument("--swap-seconds", type=float, default=60.0, help="0: no swap run")
    parser.add_argument("--log", default=os.path.join(tempfile.gettempdir(),
                                                      "serving_load.log"))
    args = parser.parse_args(argv)
    from components.raw_examples import load_raw_schema
    command = "python -m benchmarks.serving_load " + " ".join(
        argv if argv is not None else sys.argv[1:])
    load_before = os.getloadavg()[0]
    model_dir = os.path.abspath(args.model_dir)
    newest = os.path.join(model_dir, max((v for v in os.listdir(model_dir) if v.isdigit()),
                                         key=int))
    rows = raw_rows(256, seed=3)
    examples = raw_examples(load_raw_schema(newest), 256, seed=3)
    reference = in_process(newest, examples, args.calls)
    with open(args.log, "w") as log:
        servers = {mode: measure_server(model_dir, wait, rows, examples, args.seconds,
                                        args.calls, log)
                   for mode, wait in (("on", 2), ("off", 0))}
        swap = (measure_swap(model_dir, rows, examples, args.swap_seconds, log)
                if args.swap_seconds > 0 else None)
    print(format_section(model_dir, command, (load_before, os.getloadavg()[0]), reference,
                         servers, swap, args.seconds))


if __name__ == "__main__":
    main()
