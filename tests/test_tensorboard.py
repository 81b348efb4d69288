"""A real TensorBoard over a generated 4-job sweep: what its HParams plugin serves to the browser, and
what a headless Chromium shows of it (when Chromium is installed: .ci/run installs it)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import run_cli

from litlab.data import DiabetesDataModule
from litlab.runtime.hparams import FINAL

JOBS = ["0_lr=0.003,seed=1", "1_lr=0.003,seed=2", "2_lr=0.03,seed=1", "3_lr=0.03,seed=2"]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@contextmanager
def tensorboard(logdir: Path, scratch: Path) -> Iterator[str]:
    """A TensorBoard over `logdir` that has read its event files (its HParams plugin serves an experiment);
    yields its address, and stops it after. It binds a port of its own choosing (`--port=0`; a port picked
    free beforehand can be taken by its data server in between) and prints its address on stderr, which
    goes to a file in `scratch`: a failure shows its tail."""
    stderr = scratch / f"tensorboard-{time.monotonic_ns()}.stderr"
    command = [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", "--port=0", "--host=127.0.0.1"]
    with stderr.open("wb") as sink:
        server = subprocess.Popen(command, stderr=sink)
    try:
        deadline, address, error = time.monotonic() + 90, None, None
        while True:  # until it serves, and has read the event files (its first load)
            said = stderr.read_text(errors="replace")
            assert server.poll() is None, f"TensorBoard exited ({server.returncode}): {said[-2000:]}"
            if address is None and (served := re.search(r"(http://127\.0\.0\.1:\d+)/", said)):
                address = served.group(1)
            if address is not None:
                try:
                    experiment = post(f"{address}/data/plugin/hparams/experiment", {"experimentName": ""})
                    if experiment.get("hparamInfos"):
                        break
                except OSError as e:  # not serving yet, or the plugin not ready
                    error = e
            assert time.monotonic() < deadline, (
                f"TensorBoard served no HParams experiment in 90 s (last error: {error}): {said[-2000:]}"
            )
            time.sleep(0.5)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def hparams_endpoints(address: str) -> tuple[dict, dict]:
    """The HParams plugin's experiment and session groups, as the dashboard asks for them."""
    base = f"{address}/data/plugin/hparams"
    experiment = post(f"{base}/experiment", {"experimentName": ""})
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
    return experiment, groups


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The folder of a 4-job sweep of diabetes (its example rows), 2 epochs a job."""
    logs = tmp_path_factory.mktemp("logs")
    data_dir = tmp_path_factory.mktemp("data")
    DiabetesDataModule.write_example_files(data_dir)
    sweep_args = ["experiment=diabetes", "model.optimizer.lr=0.003,0.03", "seed=1,2", "trainer.max_epochs=2"]
    run_cli("train.py", "-m", f"paths.log_dir={logs}", *sweep_args, data_dir=data_dir)
    (folder,) = (logs / "diabetes" / "multiruns").iterdir()
    return folder


@pytest.mark.slow
def test_hparams_of_a_four_job_sweep_put_what_it_varied_first(sweep, tmp_path):
    with tensorboard(sweep, tmp_path) as address:
        experiment, groups = hparams_endpoints(address)

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


CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
# The page's text, the shadow roots of TensorBoard's Polymer dashboards included (`--dump-dom` leaves
# them out), less scripts and styles.
PAGE_TEXT = """(() => { const out = []; const walk = (node) => {
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === 3) out.push(child.textContent);
    else if (!["SCRIPT", "STYLE"].includes(child.nodeName)) walk(child);
  }
}; walk(document); return out.join(" "); })()"""


class HeadlessChromium:
    """A headless Chromium driven through the DevTools protocol on a pipe (`--remote-debugging-pipe`:
    it reads commands on fd 3 and answers on fd 4), so the standard library is all it takes."""

    def __init__(self, profile: Path) -> None:
        commands, replies = os.pipe(), os.pipe()

        def on_fds_3_and_4() -> None:  # in the child, before exec: its ends of the pipes as fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands[0], replies[1])]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # --no-sandbox: Chromium's sandbox refuses to run as root, as CI containers do.
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        self.process = subprocess.Popen(
            [CHROMIUM, *flags, "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-pipe"],
            pass_fds=(3, 4), preexec_fn=on_fds_3_and_4,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(commands[0])
        os.close(replies[1])
        self.send, self.receive = os.fdopen(commands[1], "wb", buffering=0), os.fdopen(replies[0], "rb")
        self.calls, self.pending = 0, b""

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """One DevTools command's result (events in between are passed over)."""
        self.calls += 1
        message = {"id": self.calls, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.send.write(json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                chunk = self.receive.read1(1 << 16)
                assert chunk, f"Chromium closed its DevTools pipe during {method}"
                self.pending += chunk
            raw, _, self.pending = self.pending.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") == self.calls:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's chromium)")
def test_a_headless_chromium_shows_the_sweeps_hparams_table(sweep, tmp_path):
    width, height = 1400, 900
    with tensorboard(sweep, tmp_path) as address:
        browser = HeadlessChromium(tmp_path / "profile")
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            page = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            size = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            browser.call("Emulation.setDeviceMetricsOverride", page, **size)
            browser.call("Page.navigate", page, url=f"{address}/#hparams")
            deadline, text = time.monotonic() + 60, ""
            while not all(job in text for job in JOBS) and time.monotonic() < deadline:
                time.sleep(0.5)
                text = browser.call("Runtime.evaluate", page, expression=PAGE_TEXT, returnByValue=True)
                text = text["result"].get("value") or ""
            png = base64.b64decode(browser.call("Page.captureScreenshot", page, format="png")["data"])
        finally:
            browser.close()
    (tmp_path / "hparams.png").write_bytes(png)  # to look at when it fails
    assert [job for job in JOBS if job not in text] == [], "the table lists every job within 60 s"
    assert "model.optimizer.lr" in text and "seed" in text  # the swept hyperparameters' columns
    assert png_size(png) == (width, height)
    from matplotlib.image import imread

    pixels = imread(tmp_path / "hparams.png")[..., :3].reshape(-1, 3)
    colours = {tuple(p) for p in (pixels * 255).round().astype(int)[::97].tolist()}
    assert len(colours) > 20, f"a blank screenshot: {len(colours)} colours"
