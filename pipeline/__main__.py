import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # forced: a user's =0 would give Transform Keras 3

from pipeline.cli import main  # noqa: E402

sys.exit(main())
