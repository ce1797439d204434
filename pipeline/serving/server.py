"""`python -m pipeline serve`: a model server for the versions the Pusher published.

`ModelServer` runs the version poll, the gRPC server (its own thread pool) and the REST server
(tornado on an asyncio loop in a thread of its own); `serve_from_args` is the command: it
prints one line when both listen, and stops on SIGTERM or SIGINT: no new requests are taken,
those in flight are answered (gRPC's grace period), then the process exits 0.

Both servers bind 127.0.0.1 unless `--host` says otherwise. Neither authenticates nor encrypts:
another host should reach them only through something that does (a proxy, a mesh)."""
import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import signal
import socket
import threading
from typing import Optional, TextIO

from pipeline.serving.metrics import ServingMetrics
from pipeline.serving.versions import ServingOptions, VersionManager, VersionSource

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 16 * 2**20
GRPC_MESSAGE_BYTES = 64 * 2**20
STOP_GRACE_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    source: VersionSource
    model_name: str
    host: str = LOOPBACK
    rest_port: int = 8501  # TF Serving's defaults
    grpc_port: int = 8500
    serving: ServingOptions = ServingOptions()
    max_body_bytes: int = MAX_BODY_BYTES
    grpc_threads: int = 64  # a waiting request holds one (up to 64 clients in one batch)


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    """Both APIs over one VersionManager. `start()` returns once both listen (ports 0: free
    ones, see `rest_port`/`grpc_port`); `stop()` drains and closes."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.metrics = ServingMetrics(options.model_name)
        self.versions = VersionManager(options.model_name, options.source, options.serving,
                                       on_batch=self.metrics.batch_size.observe,
                                       on_change=self.metrics.served_changed)
        self.grpc_server = None
        self.http_server = None
        self.loop = None
        self.loop_thread = None
        self.rest_port = self.grpc_port = None

    @property
    def rest_address(self) -> str:
        return f"http://{host_port(self.options.host, self.rest_port)}"

    @property
    def grpc_address(self) -> str:
        return host_port(self.options.host, self.grpc_port)

    def start(self):
        self.versions.poll()  # versions already there answer from the first request
        self.versions.start()
        self.start_grpc()
        self.start_rest()
        return self

    def start_grpc(self):
        import grpc
        from pipeline.serving.grpc_api import add_services
        self.grpc_server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(self.options.grpc_threads,
                                                  thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", GRPC_MESSAGE_BYTES),
                     ("grpc.max_send_message_length", GRPC_MESSAGE_BYTES),
                     ("grpc.so_reuseport", 0)])
        add_services(self.grpc_server, self.versions, self.metrics)
        address = host_port(self.options.host, self.options.grpc_port)
        try:
            self.grpc_port = self.grpc_server.add_insecure_port(address)
        except RuntimeError as error:
            raise SystemExit(f"gRPC cannot listen on {address}: {error}") from None
        if not self.grpc_port:
            raise SystemExit(f"gRPC cannot listen on {address} (in use?)")
        self.grpc_server.start()

    def start_rest(self):
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets
        from pipeline.serving.rest_api import make_app
        try:
            sockets = bind_sockets(self.options.rest_port, address=self.options.host,
                                   family=socket.AF_UNSPEC)
        except OSError as error:
            raise SystemExit(f"REST cannot listen on "
                             f"{host_port(self.options.host, self.options.rest_port)}: "
                             f"{error.strerror}") from None
        self.rest_port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def run_loop():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)

            async def listen():
                app = make_app(self.versions, self.metrics, self.options.max_body_bytes)
                # the handler answers 400 up to this; beyond, tornado closes the connection
                self.http_server = HTTPServer(app, max_body_size=self.options.max_body_bytes * 4)
                self.http_server.add_sockets(sockets)
                ready.set()
            self.loop.run_until_complete(listen())
            self.loop.run_forever()
            self.loop.close()

        self.loop_thread = threading.Thread(target=run_loop, name="rest", daemon=True)
        self.loop_thread.start()
        ready.wait()

    def stop(self, grace: float = STOP_GRACE_SECONDS):
        """No new requests; those in flight are answered (up to `grace` seconds)."""
        if self.loop is not None:
            async def close_http():
                self.http_server.stop()
                await self.http_server.close_all_connections()
            future = asyncio.run_coroutine_threadsafe(close_http(), self.loop)
            try:
                future.result(timeout=grace)
            except concurrent.futures.TimeoutError:
                logger.warning("REST connections still open after %.0f s; closing", grace)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.loop_thread.join()
            self.loop = None
        if self.grpc_server is not None:
            self.grpc_server.stop(grace).wait()
            self.grpc_server = None
        self.versions.stop()


def default_model_name(source: VersionSource) -> str:
    """The dataset spec's name (the run root's pipeline is `ctr_<spec name>`); for a plain
    folder of versions, the folder's name."""
    if source.run_root is not None:
        from pipeline.reporting import metadata
        path = os.path.join(source.run_root, metadata.METADATA_FILE)
        if os.path.exists(path):
            names = [c.name for c in metadata.open_store(path).get_contexts_by_type("pipeline")]
            if len(names) == 1:
                return names[0][len("ctr_"):] if names[0].startswith("ctr_") else names[0]
        return os.path.basename(os.path.abspath(source.run_root))
    return os.path.basename(os.path.abspath(source.base).rstrip("/"))


def add_serve_args(parser):
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", help="run root: serve the versions under <root>/serving/ that "
                                      "its ML-Metadata records as pushed")
    where.add_argument("--model-dir", help="a folder of version folders (<dir>/<version>/"
                                           "saved_model.pb), as TF Serving's --model_base_path")
    parser.add_argument("--model-name", help="the name clients ask for (default: the dataset "
                                             "spec's name; with --model-dir, the folder's name)")
    parser.add_argument("--host", default=LOOPBACK,
                        help="address both servers bind (default 127.0.0.1, this machine only). "
                             "Neither server authenticates: another address exposes the model "
                             "to everyone who can reach it")
    parser.add_argument("--rest-port", type=int, default=8501, help="REST port (0: a free one)")
    parser.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (0: a free one)")
    defaults = ServingOptions()
    parser.add_argument("--keep-versions", type=int, default=defaults.keep_versions,
                        help="the newest N versions stay addressable by number")
    parser.add_argument("--batch-wait-ms", type=float, default=defaults.batch_wait_ms,
                        help="how long a request waits for others to share its signature call "
                             "(0: no batching)")
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch,
                        help="examples per batched signature call")
    parser.add_argument("--max-instances", type=int, default=defaults.max_instances,
                        help="instances per request")
    parser.add_argument("--poll-seconds", type=float, default=defaults.poll_seconds,
                        help="how often the version folders are looked at")


def serve_options(args) -> ServeOptions:
    folder = args.root if args.root is not None else args.model_dir
    if not os.path.isdir(folder):
        raise SystemExit(f"{'--root' if args.root is not None else '--model-dir'} {folder}: no "
                         f"such folder")
    if args.root is not None:
        root = os.path.abspath(args.root)
        source = VersionSource(os.path.join(root, "serving"), run_root=root)
    else:
        source = VersionSource(os.path.abspath(args.model_dir))
    for name in ("keep_versions", "max_batch", "max_instances"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_wait_ms < 0 or args.poll_seconds <= 0:
        raise SystemExit("--batch-wait-ms must be >= 0 and --poll-seconds > 0")
    serving = ServingOptions(keep_versions=args.keep_versions, max_batch=args.max_batch,
                             batch_wait_ms=args.batch_wait_ms, max_instances=args.max_instances,
                             poll_seconds=args.poll_seconds)
    return ServeOptions(source=source, model_name=args.model_name or default_model_name(source),
                        host=args.host, rest_port=args.rest_port, grpc_port=args.grpc_port,
                        serving=serving)


def ready_line(server: ModelServer) -> str:
    served = sorted(server.versions.served.versions)
    versions = (f"version{'s' if len(served) > 1 else ''} {', '.join(map(str, served))}"
                if served else f"no version yet, watching {server.options.source.base}")
    return (f"Serving model {server.options.model_name!r} ({versions}): REST "
            f"{server.rest_address}/v1/models/{server.options.model_name}, gRPC "
            f"{server.grpc_address}; no authentication"
            + ("" if server.options.host == LOOPBACK else f" (bound to {server.options.host})"))


def serve(options: ServeOptions, out: TextIO, stop: Optional[threading.Event] = None) -> int:
    """Serves until SIGTERM/SIGINT (or `stop` is set); the ready line goes to `out`. Call it
    from the main thread (signal handlers are set there, and restored on return)."""
    stop = stop or threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set())
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = ModelServer(options).start()
        try:
            out.write(ready_line(server) + "\n")
            out.flush()
            while not stop.wait(0.5):  # a short wait: the signal handler runs between waits
                pass
            logger.info("stopping: answering the requests in flight")
        finally:
            server.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def serve_from_args(args, out: TextIO) -> int:
    logging.getLogger("pipeline.serving").setLevel(logging.INFO)
    return serve(serve_options(args), out)
