"""What a run recorded, read back and shown; nothing here writes to a run.

- metadata: the ML-Metadata store of a run root (runs, component executions, artefacts, the
  Trainer's configuration); the one MLMD reader.
- metrics: the Evaluator's TFMA output (metrics, intervals, plots, thresholds, validation); the
  one TFMA reader.
- summary: RunReport and read_run, the console summary of one run.
- html: write_report, the self-contained HTML report (templates/).
- runs: the run history of a run root (`python -m pipeline runs`).
"""
