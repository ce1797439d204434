"""What a run recorded, read back and shown: the console summary, the HTML report, the run
history."""
