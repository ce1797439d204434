"""Retraining benchmark: generated drifting spans arrive one by one; `retrain` runs after each.

    python -m benchmarks.retrain --out DIR [--spans 5] [--rows 20000] [--drift 0.3]
        [--shuffled 4] [--window 2] [--warm-start] [-- extra retrain options]

Prints a Markdown table: span, spans trained on, eval AUC (newest span), oracle AUC of the span,
blessed, pushed version, seconds, components served from the cache, warm start."""
import argparse
import json
import logging
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--spans", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--drift", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--shuffled", type=int, action="append", default=[],
                        help="span(s) whose labels are shuffled (must be rejected)")
    parser.add_argument("--window", type=int)
    parser.add_argument("--warm-start", action="store_true")
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from data.generators import write_criteo_span
    from pipeline.retrain import add_retrain_args, retrain, retrain_options
    data, root = os.path.join(args.out, "data"), os.path.join(args.out, "root")
    rows = []
    header = ["span", "trained on", "eval AUC", "oracle AUC", "blessed", "pushed", "seconds",
              "cached", "warm start"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for span in range(1, args.spans + 1):
        info = write_criteo_span(data, span, args.rows, seed=args.seed, drift=args.drift,
                                 shuffle_labels=span in args.shuffled)
        retrain_parser = argparse.ArgumentParser()
        add_retrain_args(retrain_parser)
        options = ["--root", root, "--data", data, "--dataset", "criteo"] + extra
        if args.window:
            options += ["--window", str(args.window)]
        if args.warm_start:
            options += ["--warm-start"]
        result = retrain(retrain_options(retrain_parser.parse_args(options)), out=lambda *a: None)
        auc = (result.report.overall or {}).get("auc")
        warm = result.warm_start or {}
        row = [f"{span}" + (" (shuffled labels)" if span in args.shuffled else ""),
               ",".join(map(str, result.spans)), f"{auc:.4f}" if auc is not None else "-",
               f"{info['oracle_auc']:.4f}", "yes" if result.report.blessed else "no",
               result.pushed_version or "- (previous stays)", f"{result.seconds:.0f}",
               ", ".join(result.cached) or "-",
               ("yes" if warm.get("warm_started") else f"no: {warm.get('reason')}")
               if warm else "-"]
        rows.append(dict(zip(header, row), tokens=warm.get("tokens"),
                         components={c.node_id: [c.state, round(c.seconds, 1)]
                                     for c in result.report.components}))
        print("| " + " | ".join(row) + " |", flush=True)
    with open(os.path.join(args.out, "bench_retrain.json"), "w") as f:
        json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
