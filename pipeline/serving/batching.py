"""Concurrent requests to one version share one call of its serving signature.

A request's examples wait at most `max_wait_s` for others (TF Serving's
`batch_timeout_micros`), up to `max_batch` examples in all; one thread per version runs the
batched calls, so the signature sees large batches under many clients and a single client pays
at most the wait. A batch whose call fails (one request's bad example) is retried one request at
a time, so only the bad request fails."""
import concurrent.futures
import logging
import queue
import threading
import time
from typing import Callable, Dict, List

import numpy as np

logger = logging.getLogger(__name__)

Outputs = Dict[str, np.ndarray]


class Pending:
    """One request's examples and the future its outputs go to."""

    def __init__(self, examples: List[bytes]):
        self.examples = examples
        self.future = concurrent.futures.Future()


_STOP = object()


class Batcher:
    """`submit(examples)` -> a Future of `run(examples)`'s outputs (arrays with one row per
    example), computed in batches of concurrent requests."""

    def __init__(self, run: Callable[[List[bytes]], Outputs], max_batch: int, max_wait_s: float,
                 name: str = "batcher", on_batch: Callable[[int], None] = None):
        self.run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.on_batch = on_batch
        self.queue = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self.serve_batches, name=name, daemon=True)
        self.thread.start()

    def submit(self, examples: List[bytes]) -> concurrent.futures.Future:
        with self.lock:
            if not self.closed:
                pending = Pending(examples)
                self.queue.put(pending)
                return pending.future
        # closed (the version was swapped out after the request chose it): it still answers
        pending = Pending(examples)
        self.run_batch([pending])
        return pending.future

    def close(self):
        """No new batches; the queued ones are answered, then the thread ends."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.queue.put(_STOP)

    def serve_batches(self):
        carried = None
        while True:
            item = carried if carried is not None else self.queue.get()
            carried = None
            if item is _STOP:
                return
            batch, size = [item], len(item.examples)
            deadline = time.monotonic() + self.max_wait_s
            stop = False
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self.queue.get(timeout=remaining) if remaining > 0 \
                        else self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                if size + len(item.examples) > self.max_batch:
                    carried = item  # the first of the next batch
                    break
                batch.append(item)
                size += len(item.examples)
            self.run_batch(batch)
            if stop:
                return

    def run_batch(self, batch: List[Pending]):
        if self.on_batch is not None:
            self.on_batch(sum(len(p.examples) for p in batch))
        try:
            outputs = self.run([e for p in batch for e in p.examples])
        except Exception as error:  # noqa: BLE001 - answered per request below
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            for pending in batch:  # only the request with the bad example fails
                self.run_batch([pending])
            return
        start = 0
        for pending in batch:
            end = start + len(pending.examples)
            pending.future.set_result({name: value[start:end] for name, value in outputs.items()})
            start = end
