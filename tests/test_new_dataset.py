"""Adding a dataset is one class and one YAML: iris, written here into a folder of its own, trains through
the ordinary task with nothing else changed, its sizes and class names read from the data."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers import compose_config
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_configs import default_problems, signature_problems

from litlab.train import train

# The whole addition: a module with the class, and the data group's YAML holding exactly its arguments.
CLASS = '''
    """Iris, scikit-learn's bundled copy: 150 flowers, 4 measurements, 3 species."""

    import numpy as np

    from litlab.data.classification import ClassificationDataModule


    class IrisDataModule(ClassificationDataModule):
        """scikit-learn's `load_iris()`; no file needed."""

        def load(self) -> tuple[np.ndarray, np.ndarray]:
            from sklearn.datasets import load_iris

            bunch = load_iris()
            self.class_names = tuple(str(name) for name in bunch.target_names)
            self.feature_names = tuple(str(name) for name in bunch.feature_names)
            return bunch.data, bunch.target.astype(np.int64)
'''
YAML = """
    _target_: iris_data.IrisDataModule
    batch_size: 32
    val_fraction: 0.15
    test_fraction: 0.2
    standardize: true
    seed: ${seed}
"""


@pytest.fixture
def iris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The addition's folder: iris_data.py (importable) and conf/data/iris.yaml."""
    addition = tmp_path / "iris"
    (addition / "conf" / "data").mkdir(parents=True)
    (addition / "iris_data.py").write_text(textwrap.dedent(CLASS).lstrip())
    (addition / "conf" / "data" / "iris.yaml").write_text(textwrap.dedent(YAML).lstrip())
    monkeypatch.syspath_prepend(str(addition))  # as `pip install` of the user's own package would
    return addition


def test_a_new_dataset_is_one_class_and_one_yaml_and_trains(iris, tmp_path):
    files = sorted(p.relative_to(iris).as_posix() for p in iris.rglob("*") if p.is_file())
    assert files == ["conf/data/iris.yaml", "iris_data.py"]  # 2 files, and no edit anywhere else
    cfg = compose_config(
        "train",
        f"hydra.searchpath=[file://{iris / 'conf'}]",  # the user's own config folder beside conf/
        "data=iris",
        "debug=fdr",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.output_dir={tmp_path / 'run'}",
    )
    yaml_file = iris / "conf" / "data" / "iris.yaml"
    node = OmegaConf.to_container(OmegaConf.load(yaml_file), resolve=False)
    assert not signature_problems(str(yaml_file), "", node) + default_problems(str(yaml_file), "", node)
    value = train(cfg)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"train/loss", "val/loss", "val/acc", "test/acc", "test/auroc"} <= set(metrics)
    assert value == metrics[cfg.optimized_metric]
    described = cfg.from_data  # filled from datamodule.describe(): nothing typed in the YAML
    assert (described.num_features, described.num_classes) == (4, 3)
    assert list(described.class_names) == ["setosa", "versicolor", "virginica"]
    assert described.feature_names[0] == "sepal length (cm)"
    assert (cfg.model.net.in_features, cfg.model.net.out_features, cfg.model.num_classes) == (4, 3, 3)


def test_a_target_needs_no_export_from_litlab_data(monkeypatch):
    # Hydra imports the module the path names; litlab/data/__init__.py need not list the class.
    import litlab.data

    monkeypatch.delattr(litlab.data, "MoonsDataModule")
    cfg = compose_config("train", "data=moons", "data._target_=litlab.data.toy.MoonsDataModule")
    assert type(instantiate(cfg.data)).__name__ == "MoonsDataModule"
