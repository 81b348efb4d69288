"""Accuracy on the real data sets: median test accuracy over seeds 1..5 (each seed also draws the split)."""

from __future__ import annotations

import json
import statistics

import pytest

from litlab.train import train

pytestmark = [pytest.mark.slow, pytest.mark.data]

# Regression floors one test sample under the measured medians over seeds 1..5, not the wish
# list: diabetes 0.7566 (target 0.77; scikit-learn's LogisticRegression gets 0.763 on the same splits),
# breast_cancer 0.9646 (target 0.97), caf 0.9861 (target 0.98; LogisticRegression 0.972-0.979, and the
# cells every model misclassifies are the same few, so the rest is label noise; the caf floor was set
# when its median was 0.9792, before the recipe took dropout 0.3 and weight decay 0.003). Medians move
# by a test row or two with the shuffle order alone: before shuffles were drawn per (seed, epoch), for
# resumable runs, they were 0.7697 / 0.9735 / 0.9792.
TARGETS = {"diabetes": 0.75, "breast_cancer": 0.955, "caf": 0.97}


@pytest.mark.parametrize("experiment", sorted(TARGETS))
def test_median_test_accuracy_over_five_seeds(compose_config, real_data_dir, tmp_path, experiment):
    accuracies = []
    for seed in range(1, 6):
        run_dir = tmp_path / f"seed{seed}"
        cfg = compose_config(
            f"experiment={experiment}",
            f"seed={seed}",
            f"paths.data_dir={real_data_dir}",
            "~logger",
            run_dir=run_dir,
        )
        train(cfg)
        accuracies.append(json.loads((run_dir / "metrics.json").read_text())["test/acc"])
    median = statistics.median(accuracies)
    print(f"{experiment}: test/acc per seed {[round(a, 4) for a in accuracies]}, median {median:.4f}")
    assert median >= TARGETS[experiment], f"{experiment}: median {median:.4f} < {TARGETS[experiment]}"


@pytest.mark.parametrize(("experiment", "target"), [("mnist", 0.98), ("mnist_cnn", 0.99)])
def test_real_mnist_accuracy(compose_config, real_data_dir, tmp_path, experiment, target):
    if not (real_data_dir / "MNIST" / "raw").exists():
        pytest.skip(f"no MNIST/raw in {real_data_dir}")
    cfg = compose_config(f"experiment={experiment}", f"paths.data_dir={real_data_dir}", "~logger")
    train(cfg)
    accuracy = json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"]
    print(f"{experiment}: test/acc {accuracy:.4f}")
    assert accuracy >= target
