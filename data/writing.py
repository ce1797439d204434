"""Writing generated data sets: atomic files, the CSV layout, the oracle JSON, reuse records.

Every file is first written to a hidden temporary file in its own folder, flushed to disk and
then renamed over the target (``os.replace``), so a reader -- or a later run that reuses the
file -- sees the old complete file or the new complete file, never a half-written one.  A writer
that fails (an exception, a full disk) removes its temporary file and leaves no target file.
``atomic_text_file`` is the project's one such writer: the pipeline's own outputs that later
runs read (the leaderboard, ``predict --out``) use it too.

``write_data_set`` is the one writer behind ``write_criteo``, ``write_movielens``,
``write_behaviour``, ``write_multitask`` and ``write_census``: generate, write the table, write
the oracle summary beside it, return the info dict.  With ``reuse=True`` it keeps a table that is
already there when a small record (``<table>.params.json``) says it was written with the same
parameters (rows, seed, ...), and writes it again when they differ; any write without a
matching record removes the record first, so a record always describes the table beside it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from typing import Any, Callable, Iterator, Optional, TextIO, Tuple

import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["atomic_text_file", "write_csv", "write_json", "write_oracle", "write_data_set",
           "write_in_folder", "RECORD_SUFFIX"]

RECORD_SUFFIX = ".params.json"


def _remove_if_present(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _sync_folder(folder: str) -> None:
    """Flush the folder entry of a renamed file to disk (not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_text_file(path: str) -> Iterator[TextIO]:
    """A UTF-8 text handle whose content replaces ``path`` only once the block completes.

    Line ends are written as given (no translation).  The temporary file sits in the target's
    folder (a rename within one file system is atomic) and is named ``.<name>.<id>.tmp``, so no
    ``*.csv``-style input pattern matches it; on an exception it is removed and ``path`` is left
    as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 (not tempfile.mkstemp's 0o600): the umask applies, as for open()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove_if_present(temp)
        raise
    _sync_folder(folder)


def write_csv(df: pd.DataFrame, path: str) -> None:
    """Write ``df`` as CSV: header line, no index, ``\\n`` line ends, missing = empty cell."""
    with atomic_text_file(path) as handle:
        df.to_csv(handle, index=False, na_rep="", lineterminator="\n")


def write_json(data: dict, path: str) -> None:
    """Write ``data`` as indented JSON with sorted keys and a final line end."""
    with atomic_text_file(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def write_oracle(info: dict, path: str) -> None:
    """Write a data set's oracle summary (``info``) as JSON."""
    write_json(info, path)


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, numpy numbers plain ones)."""
    return json.loads(json.dumps(value, sort_keys=True,
                                 default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _recorded_info(table_path: str, oracle_path: Optional[str], record_path: str,
                   params: dict) -> Optional[dict]:
    """The info of the table already at ``table_path`` when its record matches ``params``."""
    if not os.path.isfile(table_path) or (oracle_path and not os.path.isfile(oracle_path)):
        return None
    try:
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        logger.info("no readable record of how %s was generated: writing it again", table_path)
        return None
    if record.get("table_bytes") != os.path.getsize(table_path):
        logger.info("%s changed since it was generated: writing it again", table_path)
        return None
    if record.get("params") != _as_json(params):
        logger.info("%s was generated with %s: writing it again with %s", table_path,
                    record.get("params"), _as_json(params))
        return None
    return record.get("info")


def write_data_set(generate: Callable[[], Tuple[Any, dict]], table_path: str,
                   oracle_path: Optional[str], *, oracle_entry: str,
                   write_table: Callable[[Any, str], None] = write_csv,
                   params: Optional[dict] = None, reuse: bool = False,
                   record_path: Optional[str] = None) -> dict:
    """Generate a data set and write it; returns its info with ``path``: the table's absolute path.

    ``generate()`` returns ``(table, info)``; ``write_table(table, table_path)`` writes the
    table (default: ``write_csv``); the oracle JSON at ``oracle_path`` (None: none) is ``info``
    with ``path`` = ``oracle_entry`` (the table as seen from the oracle).  With ``reuse`` and
    ``params`` (all arguments that shape the data), a table whose record at ``record_path``
    (default ``<table_path>.params.json``) holds the same parameters is kept, not regenerated;
    the record is written only with ``reuse``, and removed by every other write.
    """
    record_path = record_path or table_path + RECORD_SUFFIX
    if reuse:
        if params is None:
            raise ValueError("reuse needs the parameters that the data was generated with")
        info = _recorded_info(table_path, oracle_path, record_path, params)
        if info is not None:
            logger.info("reusing %s: generated with the same parameters", table_path)
            return dict(info, path=os.path.abspath(table_path))
    _remove_if_present(record_path)  # from here on the table may change
    table, info = generate()
    write_table(table, table_path)
    if oracle_path:
        write_oracle(dict(info, path=oracle_entry), oracle_path)
    if reuse:
        write_json({"params": _as_json(params), "info": info,
                    "table_bytes": os.path.getsize(table_path)}, record_path)
    return dict(info, path=os.path.abspath(table_path))


def write_in_folder(generate: Callable[..., Tuple[Any, dict]], dataset: str, out_dir: str,
                    rows: int, seed: int, *, file_name: str, oracle_name: Optional[str],
                    reuse: bool = False, write_table: Callable[[Any, str], None] = write_csv,
                    **options) -> dict:
    """``write_data_set`` of ``generate(rows, seed, **options)`` into ``out_dir/<file_name>``,
    with its oracle ``out_dir/<oracle_name>`` (none when empty or None) whose ``path`` entry is
    ``file_name``; a reused table must match ``dataset``, ``rows``, ``seed`` and ``options``."""
    oracle_path = os.path.join(out_dir, oracle_name) if oracle_name else None
    return write_data_set(lambda: generate(rows, seed, **options), os.path.join(out_dir, file_name),
                          oracle_path, oracle_entry=file_name, write_table=write_table,
                          params=dict(options, dataset=dataset, rows=rows, seed=seed),
                          reuse=reuse)
