"""`python -m pipeline runs --root R`: the run history of a run root, read from ML-Metadata."""
import dataclasses
import datetime
import json
import os
from typing import List, Optional

from pipeline.reporting import metadata
from pipeline.reporting.summary import RunReport, read_run


@dataclasses.dataclass
class RunEntry:
    run_id: str
    started: datetime.datetime
    pipeline_name: str
    data: str
    report: RunReport
    trainer_config: dict = dataclasses.field(default_factory=dict)  # Trainer's custom_config

    @property
    def pushed_version(self) -> Optional[str]:
        return os.path.basename(self.report.pushed_model) if self.report.pushed_model else None


def list_runs(root: str) -> List[RunEntry]:
    """Every run of every pipeline in `root`, newest first."""
    metadata_path = metadata.root_metadata_path(root)
    store = metadata.open_store(metadata_path)
    entries = []
    for pipeline_name, run in metadata.runs_by_pipeline(store):
        entries.append(RunEntry(
            run_id=run.name, pipeline_name=pipeline_name, data=metadata.input_base(store, run),
            started=datetime.datetime.fromtimestamp(run.create_time_since_epoch / 1000),
            report=read_run(metadata_path, pipeline_name, run.name),
            trainer_config=metadata.trainer_config(store.get_executions_by_context(run.id))))
    return sorted(entries, key=lambda e: e.started, reverse=True)


def _model(entry):
    """Model name and arguments: from the training summary, or for a run whose Trainer did not
    finish, from the Trainer's configuration."""
    training = entry.report.training or entry.trainer_config
    if not training.get("model"):
        return "-"
    args = training.get("model_args") or {}
    return training.get("model", "?") + (" " + json.dumps(args, separators=(",", ":"))
                                         if args else "")


def _metric(report, name):
    value = (report.overall or {}).get(name)
    if value is None:
        return "-"
    return "n/a" if value != value else f"{value:.4f}"  # NaN: an AUC without both classes


def format_spans(spans):
    """'3' or '1-3' (consecutive) or '1,3'; '-' for input without spans."""
    if not spans:
        return "-"
    if len(spans) > 1 and spans == list(range(spans[0], spans[-1] + 1)):
        return f"{spans[0]}-{spans[-1]}"
    return ",".join(map(str, spans))


UNFINISHED_STATES = ("NEW", "RUNNING", "UNKNOWN")


def unfinished(report: RunReport) -> bool:
    """Whether a component of the run has not finished (the run is under way, or was stopped):
    its row then shows only what finished components recorded."""
    return any(c.state in UNFINISHED_STATES for c in report.components)


def format_runs(entries: List[RunEntry]) -> str:
    """A Markdown table: run id, date, model and args, data, spans trained on, eval
    AUC/logloss, blessed, pushed."""
    header = ["run id", "date", "model", "data", "spans", "AUC", "logloss", "blessed", "pushed"]
    rows = [[e.run_id + (" (unfinished)" if unfinished(e.report) else ""),
             e.started.strftime("%Y-%m-%d %H:%M"), _model(e),
             e.data or "-", format_spans(e.report.spans), _metric(e.report, "auc"),
             _metric(e.report, "binary_crossentropy"),
             {True: "yes", False: "no", None: "-"}[e.report.blessed], e.pushed_version or "-"]
            for e in entries]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join(lines)
