"""Span-aware input: which data spans exist under `--data`, and which of them a run reads.

TFX ExampleGen understands input patterns with a `{SPAN}` spec (optionally `{SPAN:3}` for a
zero-padded width), a `{VERSION}` spec (the newest version of a span is read) or date specs
`{YYYY}-{MM}-{DD}` (the span number is then days since 1970-01-01, TFX's convention). One
ExampleGen execution ingests exactly one span (TFX allows only a static range with start ==
end), and records that span number on its Examples artifact in ML-Metadata.

This module lists the spans that exist (so `--window k` and `--span-range A:B` can be resolved
before the pipeline is built) and gives each selected span its `RangeConfig`. A `--data` folder
holding `span-<N>/` sub-folders needs no flags: its pattern is `span-{SPAN}/*`.

Split folders: a data folder (or each span folder) holding `train/`, `validation/` and `test/`
sub-folders is split by them (pipeline.pipeline.split_file_patterns); their files count as the
span's files here.
"""
import dataclasses
import datetime
import glob
import os
import re
from typing import List, Optional

SPAN_FOLDER = re.compile(r"^span-(\d+)$")
# Sub-folders that decide the splits (components.dataset_spec.SPLIT_NAMES; not imported, so
# that the CLI's span listing imports nothing of the components).
SPLIT_FOLDERS = ("train", "validation", "test")
DEFAULT_SPAN_PATTERN = "span-{SPAN}/*"
_SPEC = re.compile(r"\{(SPAN|VERSION|YYYY|MM|DD)(?::(\d+))?\}")
_EPOCH = datetime.date(1970, 1, 1)


@dataclasses.dataclass
class SpanInput:
    """A span-aware ExampleGen input: `pattern` (relative to `input_base`, with TFX specs) and the
    selected span numbers, oldest first (the last one is the newest)."""
    input_base: str
    pattern: str
    spans: List[int]
    available: List[int]

    @property
    def newest(self) -> int:
        return self.spans[-1]

    def files(self, span: int) -> List[str]:
        """The files ExampleGen reads for `span` (the newest version, when the pattern has
        `{VERSION}`)."""
        matches = [(v, path) for s, v, path in _matches(self.input_base, self.pattern)
                   if s == span]
        newest = max(v for v, _ in matches) if matches else None
        return sorted(path for v, path in matches if v == newest)


def has_span_spec(pattern: str) -> bool:
    return any(m.group(1) in ("SPAN", "YYYY") for m in _SPEC.finditer(pattern))


def date_to_span(year: int, month: int, day: int) -> int:
    """TFX's span number of a date folder: days since 1970-01-01."""
    return (datetime.date(year, month, day) - _EPOCH).days


def _regex(pattern: str) -> str:
    """A regex for `pattern` (a glob with TFX specs) with named groups for the specs."""
    out, pos, seen = [], 0, set()
    for m in _SPEC.finditer(pattern):
        out.append(_glob_regex(pattern[pos:m.start()]))
        name, width = m.group(1), m.group(2)
        digits = r"\d{%s}" % width if width else (r"\d{%d}" % {"YYYY": 4}.get(name, 2)
                                                  if name in ("YYYY", "MM", "DD") else r"\d+")
        if name in seen:  # the same spec twice must match the same value
            out.append(f"(?P={name})")
        else:
            out.append(f"(?P<{name}>{digits})")
            seen.add(name)
        pos = m.end()
    out.append(_glob_regex(pattern[pos:]))
    return "^" + "".join(out) + "$"


def _glob_regex(text: str) -> str:
    return "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in text)


def _matches(input_base: str, pattern: str):
    """[(span, version, path)] for every file matching `pattern` under `input_base`."""
    regex = re.compile(_regex(pattern))
    out = []
    for path in glob.glob(os.path.join(input_base, _SPEC.sub("*", pattern))):
        if not os.path.isfile(path) and not is_split_folder(path):
            continue
        m = regex.match(os.path.relpath(path, input_base).replace(os.sep, "/"))
        if not m:
            continue
        groups = m.groupdict()
        if groups.get("SPAN") is not None:
            span = int(groups["SPAN"])
        else:
            try:
                span = date_to_span(int(groups["YYYY"]), int(groups["MM"]), int(groups["DD"]))
            except ValueError:  # not a calendar date: TFX would reject it too
                continue
        version = int(groups["VERSION"]) if groups.get("VERSION") else 0
        out += [(span, version, f) for f in ([path] if os.path.isfile(path)
                                             else split_folder_files(path))]
    return out


def is_split_folder(path: str) -> bool:
    return os.path.basename(os.path.normpath(path)) in SPLIT_FOLDERS and os.path.isdir(path)


def split_folder_files(folder: str) -> List[str]:
    """The files directly inside one split folder."""
    return sorted(f for f in glob.glob(os.path.join(folder, "*")) if os.path.isfile(f))


def split_folders(data_root: str, input_pattern: str = "*") -> bool:
    """Whether the folder `input_pattern` lives in (under `data_root`; for a span pattern, each
    span's folder: the first one found is looked at) holds train/, validation/ and test/
    sub-folders, which then decide the splits. Some of them but not all is an error."""
    folder = os.path.dirname(input_pattern)
    candidates = sorted(glob.glob(os.path.join(data_root, _SPEC.sub("*", folder)))) \
        if folder else [data_root]
    candidates = [c for c in candidates if os.path.isdir(c)]
    if not candidates:
        return False
    present = [name for name in SPLIT_FOLDERS
               if os.path.isdir(os.path.join(candidates[0], name))]
    if present and len(present) < len(SPLIT_FOLDERS):
        raise ValueError(f"{candidates[0]} holds {', '.join(p + '/' for p in present)} but not "
                         f"{', '.join(n + '/' for n in SPLIT_FOLDERS if n not in present)}: "
                         f"split folders need all three (train/, validation/, test/)")
    return bool(present)


def input_files(input_base: str, pattern: str) -> List[str]:
    """The files `pattern` (no span specs) matches under `input_base`, with the files of the
    split folders it matches."""
    out = []
    for path in sorted(glob.glob(os.path.join(input_base, pattern))):
        if os.path.isfile(path):
            out.append(path)
        elif is_split_folder(path):
            out += split_folder_files(path)
    return out


def available_spans(input_base: str, pattern: str) -> List[int]:
    """Span numbers that have at least one file matching `pattern`, ascending."""
    return sorted({span for span, _, _ in _matches(input_base, pattern)})


def parse_span_range(text: str):
    """'A:B' -> (A, B) inclusive; 'A:' -> (A, None); ':B' -> (None, B); 'A' -> (A, A)."""
    try:
        if ":" not in text:
            return int(text), int(text)
        start, end = text.split(":", 1)
        return (int(start) if start.strip() else None, int(end) if end.strip() else None)
    except ValueError:
        raise SystemExit(f"--span-range {text!r}: expected A:B (span numbers, inclusive)")


def select_spans(available: List[int], window: Optional[int] = None,
                 span_range: Optional[str] = None) -> List[int]:
    """The spans a run reads: the newest by default, the newest `window` ones, or those in
    `span_range` ('A:B', inclusive)."""
    if not available:
        raise SystemExit("no spans found")
    if window is not None and span_range is not None:
        raise SystemExit("give --window or --span-range, not both")
    if span_range is not None:
        start, end = parse_span_range(span_range)
        chosen = [s for s in available if (start is None or s >= start)
                  and (end is None or s <= end)]
        if not chosen:
            raise SystemExit(f"--span-range {span_range}: no span in that range (available: "
                             f"{_short(available)})")
        return chosen
    window = 1 if window is None else int(window)
    if window < 1:
        raise SystemExit(f"--window {window}: must be at least 1")
    return available[-window:]


def _short(spans):
    return ", ".join(map(str, spans)) if len(spans) <= 8 else \
        f"{spans[0]}..{spans[-1]} ({len(spans)} spans)"


def _split_pattern(data: str):
    """'base/dir/span-{SPAN}/*.csv' -> ('base/dir', 'span-{SPAN}/*.csv'): the base is the
    longest leading folder without specs or wildcards."""
    parts = data.replace(os.sep, "/").split("/")
    for i, part in enumerate(parts):
        if _SPEC.search(part) or any(c in part for c in "*?["):
            return "/".join(parts[:i]) or "/", "/".join(parts[i:])
    raise SystemExit(f"--data {data}: a pattern needs a {{SPAN}} or {{YYYY}}-{{MM}}-{{DD}} spec")


def find_span_input(data: str, window: Optional[int] = None,
                    span_range: Optional[str] = None) -> Optional[SpanInput]:
    """The span-aware input behind `--data`, or None when `--data` is not span-based.

    Span-based: a pattern with TFX specs (`logs/span-{SPAN}/*.csv`,
    `logs/{YYYY}-{MM}-{DD}/*`, `logs/span-{SPAN}/v{VERSION}/*`), or a folder holding
    `span-<N>/` sub-folders (pattern `span-{SPAN}/*`)."""
    if _SPEC.search(data):
        base, pattern = _split_pattern(data)
        base = os.path.abspath(base)
        if not has_span_spec(pattern):
            raise SystemExit(f"--data {data}: {{VERSION}} needs a {{SPAN}} or date spec too")
    elif window is not None or span_range is not None or _has_span_folders(data):
        base, pattern = os.path.abspath(data), DEFAULT_SPAN_PATTERN
        if not _has_span_folders(data):
            raise SystemExit(f"--data {data}: --window/--span-range need span-<N>/ sub-folders "
                             f"or a pattern with {{SPAN}}")
    else:
        return None
    available = available_spans(base, pattern)
    if not available:
        raise SystemExit(f"--data {data}: no file matches {os.path.join(base, pattern)}")
    return SpanInput(base, pattern, select_spans(available, window, span_range), available)


def _has_span_folders(data: str) -> bool:
    return os.path.isdir(data) and any(
        SPAN_FOLDER.match(name) and os.path.isdir(os.path.join(data, name))
        for name in os.listdir(data))


def range_config(span: int):
    """ExampleGen's RangeConfig for exactly `span`."""
    from tfx.proto import range_config_pb2
    return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=span, end_span_number=span))
