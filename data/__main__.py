"""Command line for the synthetic data generators.

    python -m data criteo --rows 100000 --out DIR [--seed 0] [--span K] [--drift D]
    python -m data movielens --rows N --out DIR [--seed 0] [--with-history] [--maxlen 50]
    python -m data behaviour --rows N --out DIR [--seed 0]   # event log for sequence models
    python -m data multitask --rows N --out DIR [--seed 0]   # click + purchase (data.multitask)
    python -m data census --rows N --out DIR [--seed 0]      # headerless census-income file
    python -m data samples [--out DIR]     # regenerate data/samples/*

Writes the CSV and its oracle JSON (see ``data.generators``) and prints a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import List, Optional

from data import behaviour, census, generators, multitask


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="dataset", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rows", type=int, required=True, help="number of rows")
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--file-name", default="train.csv", help="CSV name (default train.csv)")
        p.add_argument("-v", "--verbose", action="store_true", help="log progress")

    criteo = sub.add_parser("criteo", help="Criteo-style click data (label, I1..I13, C1..C26)")
    common(criteo)
    criteo.add_argument("--span", type=int, default=None,
                        help="write OUT/span-K/data.csv: new rows of the same planted model")
    criteo.add_argument("--drift", type=float, default=0.0,
                        help="category-frequency drift per span (default 0)")
    movielens = sub.add_parser("movielens", help="MovieLens-style ratings")
    common(movielens)
    movielens.add_argument("--with-history", action="store_true",
                           help="add hist_movie_id: the user's previous movie ids")
    movielens.add_argument("--maxlen", type=int, default=50, help="history length (default 50)")
    common(sub.add_parser("behaviour", help="behaviour log: user_id, item_id, cate_id, "
                                            "timestamp, label (see data.behaviour)"))
    common(sub.add_parser("multitask", help="multi-task log: click, purchase (after a click)"))
    census_parser = sub.add_parser("census", help="census-income (KDD) rows: no header line")
    common(census_parser)
    census_parser.set_defaults(file_name="census-income.sample")
    samples = sub.add_parser("samples", help="rewrite the committed samples (data/samples)")
    samples.add_argument("--out", default=generators.SAMPLES_DIR, help="output folder")
    samples.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    if args.dataset == "samples":
        info = generators.write_samples(args.out)
        info.update(behaviour.write_sample(args.out))
        info["multitask_2k"] = multitask.write_multitask(
            args.out, 2000, 0, file_name="multitask_2k.csv", oracle_name="multitask_2k.oracle.json")
    elif args.dataset == "multitask":
        info = multitask.write_multitask(args.out, args.rows, args.seed, file_name=args.file_name)
    elif args.dataset == "census":
        info = census.write_census(args.out, args.rows, args.seed, file_name=args.file_name)
    elif args.dataset == "criteo":
        info = generators.write_criteo(args.out, args.rows, args.seed, file_name=args.file_name,
                                       span=args.span, drift=args.drift)
    elif args.dataset == "behaviour":
        info = behaviour.write_behaviour(args.out, args.rows, args.seed, file_name=args.file_name)
    else:
        info = generators.write_movielens(args.out, args.rows, args.seed,
                                          file_name=args.file_name,
                                          with_history=args.with_history, maxlen=args.maxlen)
    info = dict(info)
    info["seconds"] = round(time.perf_counter() - start, 3)
    sys.stdout.write(json.dumps(info, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
