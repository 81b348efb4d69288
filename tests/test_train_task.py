"""The training task end to end: every experiment, config errors, determinism, run files, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from litlab.runtime.hparams import EXPERIMENT_FILE, FINAL
from litlab.runtime.resolvers import REPO_ROOT
from litlab.train import train

EXPERIMENTS = sorted(p.stem for p in (REPO_ROOT / "conf" / "experiment").glob("*.yaml"))
QUICK = ["trainer.max_epochs=3", "trainer.accelerator=cpu", "trainer.devices=1"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_fast_dev_run(compose_config, tmp_path, experiment):
    cfg = compose_config(f"experiment={experiment}", "debug=fdr")
    value = train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    scores = ["r2", "mse"] if cfg.model._target_ == "litlab.models.Regressor" else ["acc", "auroc"]
    expected = {"train/loss"} | {f"{split}/{m}" for split in ("val", "test") for m in ["loss", *scores]}
    assert expected <= set(metrics)
    assert value == metrics[cfg.optimized_metric]  # optimized_metric goes back to the sweeper


def test_default_config_is_breast_cancer_logistic_regression(compose_config, sized_by_data):
    cfg = sized_by_data(compose_config())
    assert cfg.data._target_ == "litlab.data.BreastCancerDataModule"
    assert list(cfg.model.net.hidden) == [] and cfg.model.net.out_features == 1


def test_sizes_come_from_the_data(compose_config, sized_by_data):
    cfg = sized_by_data(compose_config("experiment=caf"))
    assert (cfg.model.net.in_features, cfg.model.net.out_features) == (557, 4)
    assert cfg.model.num_classes == 4 and list(cfg.from_data.class_names) == ["vCAF", "mCAF", "cCAF", "dCAF"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.net.in_features=5",
            r"model.net.in_features=5 contradicts the data: .*\(CAFDataModule\) has 557 features",
        ),
        ("model.num_classes=3", r"model.num_classes=3 contradicts the data: .* has 4 classes"),
        ("model.net.out_features=2", r"model.net.out_features=2 contradicts the data: .* has 4 outputs"),
        ("from_data.num_classes=3", r"from_data.num_classes=3 contradicts the data: .* has num_classes=4"),
    ],
)
def test_a_typed_size_that_contradicts_the_data_names_both(compose_config, sized_by_data, override, message):
    with pytest.raises(ValueError, match=message):
        sized_by_data(compose_config("experiment=caf", override))


def test_a_typed_size_that_agrees_with_the_data_is_accepted(compose_config, sized_by_data):
    cfg = sized_by_data(compose_config("experiment=caf", "model.net.in_features=557", "model.num_classes=4"))
    assert cfg.model.net.in_features == 557


@pytest.mark.parametrize(
    ("override", "group"),
    [
        ("experiment=nope", "experiment"),
        ("model=nope", "model"),
        ("model/optimizer=adamx", "model/optimizer"),
    ],
)
def test_unknown_names_list_the_options(compose_config, override, group):
    with pytest.raises(MissingConfigException, match=rf"Available options in '{group}'") as err:
        compose_config(override)
    assert {"experiment": "diabetes", "model": "classifier", "model/optimizer": "rmsprop"}[group] in str(
        err.value
    )


def test_monitor_is_defined_once(compose_config):
    cfg = compose_config("monitor.metric=val/acc", "monitor.mode=max")
    for callback in (cfg.callbacks.best_checkpoint, cfg.callbacks.early_stopping):
        assert (callback.monitor, callback.mode) == ("val/acc", "max")
    assert cfg.model.monitor == "val/acc"


def test_same_seed_same_metrics_and_seed_zero_is_a_seed(compose_config, tmp_path):
    runs = []
    for n, seed in enumerate([0, 0, 1]):
        cfg = compose_config("experiment=diabetes", f"seed={seed}", *QUICK, run_dir=tmp_path / f"r{n}")
        train(cfg)
        runs.append((tmp_path / f"r{n}" / "metrics.json").read_text())
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_run_dir_holds_metrics_config_checkpoints_and_tensorboard(compose_config, tmp_path):
    cfg = compose_config("experiment=breast_cancer_adam", *QUICK)
    train(cfg)
    run = tmp_path / "run"
    resolved = (run / "config.yaml").read_text()
    assert "${" not in resolved and "BreastCancerDataModule" in resolved
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"last.ckpt"}
    assert len(list((run / "checkpoints").glob("epoch_*.ckpt"))) == 1

    events = EventAccumulator(str(run))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/auroc", f"{FINAL}test/acc"} <= scalars
    # Curves first in Time Series: no epoch scalar, test results only once (HParams metrics, after val/),
    # no train/* repeated there, and no learning rate without a scheduler.
    assert not [t for t in scalars if t == "epoch" or t.startswith(("test/", f"{FINAL}train/", "train/lr"))]
    assert sorted({t.split("/")[0] for t in scalars}) == ["train", "val", FINAL.rstrip("/")]
    assert len(events.Scalars("val/loss")) == 3  # one point per epoch
    last = max(e.step for e in events.Scalars("train/loss"))
    assert {e.step for tag in scalars if tag.startswith(FINAL) for e in events.Scalars(tag)} == {last + 1}
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model.optimizer.lr"].number_value == pytest.approx(0.01)  # experiment=breast_cancer_adam
    assert hparams["data"].string_value == "BreastCancer"
    assert hparams["model.optimizer"].string_value == "Adam"
    assert not [name for name in hparams if "_target_" in name or "dir" in name or "plugins" in name]
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    # The optimized metric, the monitored one, then the test metrics.
    tags = [m.name.tag for m in experiment.metric_infos]
    assert tags[:3] == [f"{FINAL}val/acc", f"{FINAL}val/loss", f"{FINAL}test/acc"]
    assert f"{FINAL}train/loss" not in tags
    assert {h.name for h in experiment.hparam_infos} == set(hparams)
    metrics = json.loads((run / "metrics.json").read_text())
    assert events.Scalars(f"{FINAL}test/acc")[-1].value == pytest.approx(metrics["test/acc"])
    # val/* in metrics.json are those of the best checkpoint: the lowest val/loss of the epochs.
    assert metrics["val/loss"] == pytest.approx(min(e.value for e in events.Scalars("val/loss")), rel=1e-5)


def test_fast_dev_run_leaves_no_logs_or_checkpoints(compose_config, tmp_path):
    train(compose_config("experiment=diabetes", "debug=fdr"))
    assert (tmp_path / "run" / "metrics.json").exists()
    run = tmp_path / "run"
    assert not list(run.glob("events.out.tfevents.*")) and not (run / "checkpoints").exists()


def test_unseeded_runs_work(compose_config):
    assert train(compose_config("experiment=breast_cancer", "seed=null", "debug=fdr")) is not None


def test_two_job_multirun_gets_one_folder_with_a_run_each(tmp_path, data_dir):
    run_cli(
        "train.py",
        "-m",
        "experiment=diabetes",
        "seed=1,2",
        f"paths.log_dir={tmp_path}",
        *QUICK,
        data_dir=data_dir,
    )
    (sweep,) = (tmp_path / "diabetes" / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert jobs == ["0_seed=1", "1_seed=2"]  # the job number and what the sweep varied
    for job in jobs:
        assert (sweep / job / "metrics.json").exists()
        assert list((sweep / job).glob("events.out.tfevents.*"))  # TensorBoard's run is the job
        assert not (sweep / job / EXPERIMENT_FILE).exists()
    assert (sweep / EXPERIMENT_FILE).is_file()  # HParams' experiment summary: one for the sweep
    assert [OmegaConf.load(sweep / job / "config.yaml").seed for job in jobs] == [1, 2]


def test_cfg_job_prints_the_config_without_training(tmp_path):
    out = run_cli(
        "train.py", "experiment=caf", f"paths.log_dir={tmp_path / 'logs'}", "--cfg", "job", timeout=120
    ).stdout
    assert "CAFDataModule" in out and "hidden:" in out
    assert not Path(tmp_path / "logs").exists()


def test_a_scheduler_draws_the_learning_rate_curve_in_the_train_group(compose_config, tmp_path):
    train(compose_config("experiment=breast_cancer", "model/scheduler=step", *QUICK))
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert len(events.Scalars("train/lr")) == 3  # once per epoch
