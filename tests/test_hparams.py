"""TensorBoard's HParams tab: what a run logs as hyperparameters, and one experiment summary per sweep
that still has a column for every run under the log dir."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from litlab.runtime.hparams import EXPERIMENT_FILE, FINAL, run_hparams, write_experiments, write_record


def read_experiment(folder: Path) -> api_pb2.Experiment:
    events = EventAccumulator(str(folder / EXPERIMENT_FILE))
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
    return plugin_data_pb2.HParamsPluginData.FromString(content).experiment


def test_a_run_logs_its_overrides_first_then_a_curated_set_and_no_targets_or_paths(compose_config):
    overrides = ["model.optimizer.lr=0.03", "seed=2", "paths.data_dir=/d", "ckpt_path=last", "model/net=mlp"]
    cfg = compose_config("experiment=diabetes", *overrides)
    params = run_hparams(cfg, overrides)
    assert list(params)[:3] == ["model.optimizer.lr", "seed", "model/net"]
    assert params["model.optimizer.lr"] == 0.03 and params["model/net"] == "mlp"
    assert params["data"] == "Diabetes" and params["model.optimizer"] == "Adam"
    assert params["model.net.hidden"] == "[6,4]" and params["model.net.activation"] == "sigmoid"
    assert "cv.folds" not in params and "cv.repeats" not in params  # no cv: nothing to say
    assert not [k for k in params if "dir" in k or "_target_" in k or k.startswith(("ckpt", "trainer"))]
    assert run_hparams(compose_config("experiment=diabetes", "cv.folds=5"), [])["cv.folds"] == 5


def test_one_summary_per_sweep_marks_what_varied_and_keeps_every_runs_columns(tmp_path):
    logs = tmp_path / "logs"
    sweep = logs / "diabetes" / "multiruns" / "t"
    metrics = ["val/acc", "val/loss", "test/acc"]
    for n, (lr, seed) in enumerate([(0.003, 1), (0.003, 2), (0.03, 1), (0.03, 2)]):
        job = sweep / f"{n}_lr={lr},seed={seed}"
        job.mkdir(parents=True)
        write_record(job, {"model.optimizer.lr": lr, "seed": seed, "data": "Diabetes"}, metrics)
    write_experiments(sweep, logs)
    experiment = read_experiment(sweep)
    infos = {h.name: h for h in experiment.hparam_infos}
    assert [h.name for h in experiment.hparam_infos if h.differs] == ["model.optimizer.lr", "seed"]
    lr = infos["model.optimizer.lr"].domain_interval
    assert (lr.min_value, lr.max_value) == (0.003, 0.03) and not infos["data"].differs
    tags = [m.name.tag for m in experiment.metric_infos]
    assert tags == [f"{FINAL}val/acc", f"{FINAL}val/loss", f"{FINAL}test/acc"]

    # A later run of another experiment: its summary, and the sweep's rewritten, have every column.
    run = logs / "caf" / "runs" / "r"
    run.mkdir(parents=True)
    write_record(run, {"data.log_transform": False, "data": "CAF", "seed": 0}, ["val/acc", "test/f1"])
    write_experiments(run, logs)
    for folder in (sweep, run):
        names = {h.name for h in read_experiment(folder).hparam_infos}
        assert {"model.optimizer.lr", "seed", "data", "data.log_transform"} <= names
    infos = {h.name: h for h in read_experiment(sweep).hparam_infos}
    assert infos["seed"].differs and not infos["data.log_transform"].differs  # differs: within the sweep
    assert [h.name for h in read_experiment(run).hparam_infos][:3] == ["data.log_transform", "data", "seed"]
    assert f"{FINAL}test/f1" in [m.name.tag for m in read_experiment(sweep).metric_infos]
    assert not list(sweep.glob("*/" + EXPERIMENT_FILE))  # the jobs have none of their own: one per sweep


def test_a_summary_is_rewritten_only_when_what_it_says_changes(tmp_path):
    logs = tmp_path / "logs"
    first, second, other = (logs / "diabetes" / "runs" / n for n in ("a", "b", "c"))
    hparams = {"model.optimizer.lr": 0.03, "data": "Diabetes"}
    for run in (first, second):
        run.mkdir(parents=True)
        write_record(run, hparams, ["val/acc"])
        write_experiments(run, logs)
    inode = (first / EXPERIMENT_FILE).stat().st_ino
    write_experiments(second, logs)  # nothing new under logs: no summary is replaced
    assert (first / EXPERIMENT_FILE).stat().st_ino == inode
    other.mkdir(parents=True)  # a new column: every summary gets it
    write_record(other, {**hparams, "seed": 3}, ["val/acc"])
    write_experiments(other, logs)
    assert (first / EXPERIMENT_FILE).stat().st_ino != inode
    assert "seed" in {h.name for h in read_experiment(first).hparam_infos}
    (first / EXPERIMENT_FILE).write_bytes(b"\x05")  # a garbled summary is written again
    write_experiments(other, logs)
    assert "seed" in {h.name for h in read_experiment(first).hparam_infos}


def test_a_record_in_the_log_dir_itself_belongs_to_its_summary_alone(tmp_path):
    logs = tmp_path / "logs"
    sweep = logs / "multiruns" / "t"
    for n, lr in enumerate([0.003, 0.03]):
        (sweep / str(n)).mkdir(parents=True)
        write_record(sweep / str(n), {"model.optimizer.lr": lr, "seed": 1}, ["val/acc"])
    write_record(logs, {"model.optimizer.lr": 0.3, "seed": 2, "data": "CAF"}, ["test/f1"])  # a run at the top
    write_experiments(sweep, logs)
    infos = {h.name: h for h in read_experiment(sweep).hparam_infos}
    assert infos["model.optimizer.lr"].domain_interval.max_value == 0.03  # the top run is not the sweep's
    assert not infos["seed"].differs and not infos["data"].differs  # its columns are there, not varying
    assert not (logs / EXPERIMENT_FILE).exists()  # no summary of its own was asked for

    write_experiments(logs, None)  # the log dir as the folder: every run below it and the one in it
    infos = {h.name: h for h in read_experiment(logs).hparam_infos}
    assert infos["model.optimizer.lr"].domain_interval.max_value == 0.3 and infos["seed"].differs
    assert read_experiment(sweep).hparam_infos  # the sweep's own summary is still there
