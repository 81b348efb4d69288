"""A benchmark-only callback: at the first training step, write the wall-clock time to the file that
LITLAB_FIRST_STEP_FILE names and end the process, so that scripts/benchmark.py can time a command from
its start to its first step (`+callbacks.first_step._target_=first_step.ExitAtFirstStep`, with
scripts/ on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class ExitAtFirstStep(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        Path(os.environ["LITLAB_FIRST_STEP_FILE"]).write_text(repr(time.time()))
        os._exit(0)
