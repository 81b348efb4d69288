"""A real TensorBoard over a generated 4-job sweep: what its HParams plugin serves to the browser."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import run_cli

from litlab.runtime.hparams import FINAL

JOBS = ["0_lr=0.003,seed=1", "1_lr=0.003,seed=2", "2_lr=0.03,seed=1", "3_lr=0.03,seed=2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def hparams_endpoints(logdir: Path) -> tuple[dict, dict]:
    """The HParams plugin's experiment and session groups, as the dashboard asks for them."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", f"--port={port}"]
    server = subprocess.Popen([*command, "--host=127.0.0.1"], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/data/plugin/hparams"
    try:
        deadline = time.monotonic() + 90
        while True:  # until it serves, and has read the event files (its first load)
            try:
                experiment = post(f"{base}/experiment", {"experimentName": ""})
                if experiment.get("hparamInfos"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "TensorBoard served no HParams experiment within 90 s"
            time.sleep(1)
        columns = [{"hparam": h["name"], "includeInResult": True} for h in experiment["hparamInfos"]]
        columns += [{"metric": m["name"], "includeInResult": True} for m in experiment["metricInfos"]]
        groups = post(
            f"{base}/session_groups",
            {
                "experimentName": "",
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
                "colParams": columns,
                "startIndex": 0,
                "sliceSize": 100,
            },
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return experiment, groups


@pytest.mark.slow
def test_hparams_of_a_four_job_sweep_put_what_it_varied_first(tmp_path, data_dir):
    sweep_args = ["experiment=diabetes", "model.optimizer.lr=0.003,0.03", "seed=1,2", "trainer.max_epochs=2"]
    run_cli("train.py", "-m", f"paths.log_dir={tmp_path}", *sweep_args, data_dir=data_dir)
    (sweep,) = (tmp_path / "diabetes" / "multiruns").iterdir()
    experiment, groups = hparams_endpoints(sweep)

    infos = experiment["hparamInfos"]
    assert [h["name"] for h in infos[:2]] == ["model.optimizer.lr", "seed"]  # what varied, first
    assert [h["differs"] for h in infos] == [True, True] + [False] * (len(infos) - 2)
    assert infos[0]["domainInterval"] == {"minValue": 0.003, "maxValue": 0.03}
    assert not [h["name"] for h in infos if "_target_" in h["name"] or "dir" in h["name"]]
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert metrics[:2] == [f"{FINAL}val/acc", f"{FINAL}val/loss"]  # optimized_metric, then monitor.metric
    assert all(m.startswith(f"{FINAL}test/") for m in metrics[2:])

    assert sorted(g["name"] for g in groups["sessionGroups"]) == JOBS  # run names carry the overrides
    for group in groups["sessionGroups"]:
        lr, seed = group["name"].partition("_")[2].split(",")
        assert group["hparams"]["model.optimizer.lr"] == float(lr.partition("=")[2])
        assert group["hparams"]["seed"] == float(seed.partition("=")[2])
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        accuracy = json.loads((sweep / group["name"] / "metrics.json").read_text())["val/acc"]
        assert values[f"{FINAL}val/acc"] == pytest.approx(accuracy)
