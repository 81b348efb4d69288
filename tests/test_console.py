"""What a researcher reads: the line that says why a fit stopped, metrics.json saying which epoch each
number is from, a quiet console, user errors in one line, and the help pages."""

from __future__ import annotations

import csv
import json
import logging

import pytest
from helpers import run_cli
from omegaconf import OmegaConf

from litlab.runs.status import read_status
from litlab.runtime import cli
from litlab.runtime.cli import completion_help
from litlab.runtime.console import QuietLightning
from litlab.runtime.errors import one_line
from litlab.train import train

QUICK = ["trainer.accelerator=cpu", "trainer.devices=1", "seed=3"]
EARLY = [
    "experiment=breast_cancer_adam", "callbacks.early_stopping.patience=2", "trainer.max_epochs=40", *QUICK
]  # fmt: skip


def test_early_stopping_says_so_with_its_best_epoch_and_metrics_json_says_which_epoch(
    compose_config, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="litlab.train")
    train(compose_config(*EARLY, "logger=csv"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    fit = metrics["fit"]
    assert fit["stopped_by"] == "early_stopping" and fit["tested"] == "best checkpoint"
    assert fit["last_epoch"] == fit["best_epoch"] + 2  # patience 2
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Early stopping"))
    best = f"epoch_{fit['best_epoch']:03d}.ckpt"
    assert f"Early stopping after epoch {fit['last_epoch']} (no better val/loss for 2 epochs)" in line
    assert f"best epoch {fit['best_epoch']}, val/loss {metrics['val/loss']:.4f} (checkpoints/{best})" in line
    # The train metrics beside val/ and test/ are those of the best epoch, as the CSV logger has them.
    (logged,) = (tmp_path / "run").glob("**/metrics.csv")
    rows = [r for r in csv.DictReader(logged.open()) if r.get("train/loss")]
    by_epoch = {int(r["epoch"]): float(r["train/loss"]) for r in rows}
    assert metrics["train/loss"] == pytest.approx(by_epoch[fit["best_epoch"]])
    assert fit["last_epoch_train"]["train/loss"] == pytest.approx(by_epoch[fit["last_epoch"]])
    assert by_epoch[fit["best_epoch"]] != by_epoch[fit["last_epoch"]]


def test_reaching_max_epochs_says_so(compose_config, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="litlab.train")
    train(compose_config("experiment=breast_cancer_adam", "trainer.max_epochs=2", *QUICK))
    assert any(
        r.getMessage().startswith("max_epochs=2 reached after epoch 1; best epoch") for r in caplog.records
    )
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["fit"]["stopped_by"] == "max_epochs"


def test_lightnings_tips_and_restore_messages_stay_off_the_console_only():
    quiet = QuietLightning()

    def record(name: str, message: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, __file__, 0, message, (), None)

    assert not quiet.filter(record("lightning.pytorch.utilities.rank_zero", "💡 Tip: For seamless cloud"))
    assert not quiet.filter(
        record("lightning.pytorch.utilities.rank_zero", "Restoring states from the checkpoint path at x")
    )
    assert quiet.filter(record("lightning.pytorch.utilities.rank_zero", "GPU available: False, used: False"))
    assert quiet.filter(record("litlab.train", "💡 Tip: litlab's own lines are never dropped"))


@pytest.mark.slow
def test_a_run_prints_its_stop_line_and_what_it_wrote_and_no_noise(tmp_path):
    done = run_cli("train.py", *EARLY, f"paths.log_dir={tmp_path}", "logger=csv")
    console = done.stdout + done.stderr
    assert "Early stopping after epoch" in console
    for noise in ("Tip:", "LeafSpec", "Restoring states", "`Trainer.fit` stopped", "log_every_n_steps"):
        assert noise not in console, noise
    assert console.count("Total params") == 1  # one model summary
    run_line = next(line for line in console.splitlines() if "Run dir:" in line)
    assert "checkpoints/, " in run_line and "metrics.json" in run_line and "TensorBoard" not in run_line
    (run,) = (tmp_path / "breast_cancer_adam" / "runs").iterdir()
    assert "Restoring states" in (run / "breast_cancer_adam.log").read_text()  # the log file keeps it all
    loud = run_cli("train.py", *EARLY, f"paths.log_dir={tmp_path}", "verbose=true", "trainer.max_epochs=2")
    assert "Restoring states" in loud.stdout + loud.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("train.py", ["data.val_fraction=2"], "data.val_fraction must lie between 0 and 1, got 2"),
        ("eval.py", ["ckpt_path=/no/such.ckpt"], "checkpoint /no/such.ckpt does not exist; give the path"),
    ],
)
def test_a_user_error_is_one_line_that_names_the_fix_without_a_traceback(tmp_path, script, args, message):
    done = run_cli(script, *args, f"paths.log_dir={tmp_path}", check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert message in line
    (run,) = (tmp_path / ("train" if script == "train.py" else "eval") / "runs").iterdir()
    assert read_status(run)["status"] == "failed" and message in read_status(run)["error"]
    assert "Traceback" in next(run.glob("*.log")).read_text()  # the log file has it


def test_an_instantiate_error_is_shown_as_the_original_with_its_class():
    from hydra.errors import InstantiationException

    cause = ValueError("data.val_fraction must lie between 0 and 1, got 2")
    wrapped = InstantiationException("Error in call to target 'litlab.data.Diabetes':\nValueError(...)")
    wrapped.__cause__ = cause
    assert one_line(wrapped) == "litlab.data.Diabetes: data.val_fraction must lie between 0 and 1, got 2"


@pytest.mark.slow
def test_help_is_litlabs_with_groups_and_examples():
    out = run_cli("train.py", "--help", timeout=120).stdout
    assert out.startswith("litlab-train")
    shown = (
        "experiment: breast_cancer, breast_cancer_adam, caf, caf_adam, cifar10",
        "model/optimizer:",
        "hydra/launcher:",
        "cv.folds=5",
        "-m ",
        "hparams_search=",
        "ckpt_path=last",
        "data=table",
        "eval.py",
        "predict.py",
        "tensorboard --logdir",
    )
    for text in shown:
        assert text in out, text
    assert "_target_" not in out  # no config dump
    assert "Examples" in run_cli("eval.py", "--help", timeout=120).stdout


def test_shell_completion_without_a_subcommand_says_how_to_install_it():
    text = completion_help(["train.py", "--shell-completion"])
    assert 'eval "$(python train.py -sc install=bash)"' in text
    assert completion_help(["train.py", "-sc", "install=bash"]) is None
    assert completion_help(["train.py", "experiment=diabetes"]) is None


def test_the_quick_exit_is_registered_once_a_process(monkeypatch):
    """The entry point registers it, and the task again (a joblib worker runs only the task): the second
    call must not add a gc.freeze that would run before the handlers torch and Lightning registered
    between the two."""
    registered = []
    monkeypatch.setattr(cli.atexit, "register", registered.append)
    monkeypatch.setattr(cli, "QUICK_EXIT_REGISTERED", False)
    cli.quick_exit()
    cli.quick_exit()
    assert registered == [cli.gc.freeze]


def test_the_task_registers_the_quick_exit_first(monkeypatch):
    """A joblib worker runs the task alone (not the entry point), so the task itself must register it,
    before train() imports torch and Lightning."""
    import litlab.train as task_module

    calls = []
    monkeypatch.setattr(task_module, "quick_exit", lambda: calls.append("quick_exit"))
    monkeypatch.setattr(task_module, "train", lambda cfg: calls.append("train") or 0.5)
    task = task_module.main.__wrapped__.__wrapped__  # under entry_point and hydra.main
    assert task(OmegaConf.create({})) == 0.5
    assert calls == ["quick_exit", "train"]


def test_sweep_summary_refuses_a_run_folder(tmp_path):
    from litlab.runs.summary import main

    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path / "run")])
    assert stopped.value.code != 0


def test_resuming_an_early_stopped_run_is_refused_as_finished(compose_config, tmp_path):
    train(compose_config(*EARLY))
    before = (tmp_path / "run" / "metrics.json").read_text()
    with pytest.raises(ValueError, match="early"):
        train(compose_config(*EARLY, "ckpt_path=last"))
    assert (tmp_path / "run" / "metrics.json").read_text() == before


def test_omegaconf_errors_lose_their_trailer_and_a_missing_value_names_its_key():
    from omegaconf import OmegaConf

    def refuse(value):
        raise ValueError(f"num_classes={value}: give model=regressor for a regression")

    cfg = OmegaConf.create({"ckpt_path": "???", "model": {"out": "${litlab_test_refuse:3}"}})
    OmegaConf.register_new_resolver("litlab_test_refuse", refuse)
    try:
        errors = []
        for key in ("ckpt_path", "model.out"):
            try:
                OmegaConf.select(cfg, key, throw_on_missing=True)
            except Exception as error:  # noqa: BLE001  (the errors under test)
                errors.append(one_line(error))
    finally:
        OmegaConf.clear_resolver("litlab_test_refuse")
    assert errors == [
        "ckpt_path has no value; give ckpt_path=<value> on the command line (--help shows examples)",
        "num_classes=3: give model=regressor for a regression (at model.out)",
    ]
