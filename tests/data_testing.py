"""Comparing regenerated data with a committed (or earlier) copy: floats within a stated
tolerance, everything else exactly.

Why a tolerance: the generators are deterministic for a seed, but the floats they compute (a
probability, a mean, an oracle AUC or log loss) depend on the summation order of numpy's and
BLAS's kernels, which differs between CPUs: a clean clone on another machine computed
0.10577887626442553 where the committed oracle says 0.10577887626442552 (one unit in the last
place, ~1e-16 relative).  REL_TOL = 1e-9 leaves that noise a margin of ten million, while any
real change to a generator (another seed, model, formula or row) moves these values by far more
(one flipped label among 2,000 rows moves a rate by 5e-4, an AUC by ~1e-6).  ABS_TOL = 1e-12
covers a value that is 0 on one machine and a rounding residue on another.  Ints, strings, ids,
labels, keys and the CSV layout (header, row and cell counts) compare exactly.
"""
import csv
import math
import re

REL_TOL = 1e-9
ABS_TOL = 1e-12
_INT_CELL = re.compile(r"^\s*[-+]?[0-9]+\s*$")


def same_float(actual, expected):
    """Equal within REL_TOL / ABS_TOL; NaN equals NaN (an undefined AUC stays undefined)."""
    if math.isnan(actual) or math.isnan(expected):
        return math.isnan(actual) and math.isnan(expected)
    return math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def value_differences(actual, expected, where="$"):
    """Where two JSON-like values differ: floats beyond the tolerance, anything else at all
    (types included: 0 and 0.0 differ, so does True and 1)."""
    if isinstance(actual, float) and isinstance(expected, float):
        return [] if same_float(actual, expected) else [f"{where}: {actual!r} != {expected!r}"]
    if type(actual) is not type(expected):
        return [f"{where}: {actual!r} ({type(actual).__name__}) != {expected!r} "
                f"({type(expected).__name__})"]
    if isinstance(actual, dict):
        if sorted(actual) != sorted(expected):
            return [f"{where}: keys {sorted(actual)} != {sorted(expected)}"]
        return [d for key in sorted(expected)
                for d in value_differences(actual[key], expected[key], f"{where}.{key}")]
    if isinstance(actual, (list, tuple)):
        if len(actual) != len(expected):
            return [f"{where}: {len(actual)} items != {len(expected)}"]
        return [d for i, (a, e) in enumerate(zip(actual, expected))
                for d in value_differences(a, e, f"{where}[{i}]")]
    return [] if actual == expected else [f"{where}: {actual!r} != {expected!r}"]


def assert_same_values(actual, expected):
    differences = value_differences(actual, expected)
    assert not differences, "\n".join(differences[:20])


def _float_cell(text):
    """The value of a cell written as a non-integer number ("0.25", "1e-05", "nan"), else None."""
    if _INT_CELL.match(text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def csv_differences(actual_path, expected_path, *, header=True):
    """Where two CSV files differ: cells that are non-integer numbers in both files compare
    within the tolerance, every other cell (ints, strings, ids, empty cells) as text."""
    tables = []
    for path in (actual_path, expected_path):
        with open(path, newline="", encoding="utf-8") as handle:
            tables.append(list(csv.reader(handle)))
    actual, expected = tables
    if len(actual) != len(expected):
        return [f"{len(actual)} lines != {len(expected)} lines"]
    names = expected[0] if header and expected else []
    differences = []
    for line, (a_row, e_row) in enumerate(zip(actual, expected), start=1):
        if len(a_row) != len(e_row):
            differences.append(f"line {line}: {len(a_row)} cells != {len(e_row)}")
            continue
        for column, (a, e) in enumerate(zip(a_row, e_row)):
            if a == e:
                continue
            a_value, e_value = _float_cell(a), _float_cell(e)
            if a_value is None or e_value is None or not same_float(a_value, e_value):
                name = names[column] if column < len(names) else column
                differences.append(f"line {line}, column {name}: {a!r} != {e!r}")
    return differences


def assert_same_csv(actual_path, expected_path, *, header=True):
    differences = csv_differences(actual_path, expected_path, header=header)
    assert not differences, (f"{actual_path} differs from {expected_path}:\n"
                             + "\n".join(differences[:20]))
