"""The two ways tests drive litlab: compose a config in-process, or run an entry point as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from litlab.runtime.resolvers import REPO_ROOT

TESTS = Path(__file__).parent
# tests/ on the subprocess's path, for test-only callbacks such as failing_callback.FailOnce.
PYTHONPATH = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


def compose_config(config_name: str, *overrides: str, hydra_config: bool = False) -> DictConfig:
    """conf/<config_name>.yaml composed with `overrides`, as Hydra would (with `hydra:` if asked)."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=hydra_config)


def entry_point(script: str, *args: str, data_dir: Path | None = None) -> list[str]:
    """The command line of `python <script> args...` (train.py, eval.py, predict.py)."""
    data = [f"paths.data_dir={data_dir}"] if data_dir is not None else []
    # After leading flags such as -m: Hydra's parser takes no flag between two overrides. Before the
    # other overrides, so a test's own paths.data_dir wins.
    flags = 0
    while flags < len(args) and args[flags].startswith("-"):
        flags += 1
    return [sys.executable, script, *args[:flags], *data, *args[flags:]]


def run_cli(
    script: str,
    *args: str,
    data_dir: Path | None = None,
    check: bool = True,
    timeout: int = 300,
    background: bool = False,
) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run an entry point from the checkout in a subprocess; `background` returns the running Popen, its
    stderr going to a temporary file (`errors(process)` reads it: a pipe nobody reads would block it)."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    if data_dir is not None:
        env["LITLAB_DATA_DIR"] = str(data_dir)
    command = entry_point(script, *args, data_dir=data_dir)
    if background:
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (kept open with the process, read by errors())
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        process.error_log = log
        return process
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, check=check, capture_output=True, text=True, timeout=timeout
    )


def errors(process: subprocess.Popen) -> str:
    """The end of what a background process wrote to stderr."""
    process.error_log.seek(0)
    return process.error_log.read()[-3000:]
