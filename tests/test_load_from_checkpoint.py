"""Lightning's own loading: `Classifier.load_from_checkpoint(path)` in a notebook, as every user tries."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
import torch

from litlab.checkpoints.rebuild import rebuild
from litlab.models import Classifier, Regressor
from litlab.predict import predict
from litlab.train import train


def test_a_classifier_loads_and_predicts_what_predict_py_writes(compose_config, tmp_path):
    train(compose_config("experiment=diabetes", "data.standardize=false", "trainer.max_epochs=2"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    model = Classifier.load_from_checkpoint(str(last))  # no net, no optimizer: the checkpoint has them
    assert (model.task, model.training) == ("binary", False)

    _, datamodule, _, _ = rebuild(last)
    datamodule.setup()
    rows = datamodule.splits["test"][0][:5].numpy()  # unstandardised: the net's inputs are the raw rows
    table = tmp_path / "rows.csv"
    np.savetxt(table, rows, delimiter=",", fmt="%.10g")
    config = helpers.compose_config(
        "predict", f"paths.output_dir={tmp_path / 'predict'}", f"ckpt_path={last}", f"input={table}"
    )
    out = predict(config)
    written = np.array([[float(v) for v in line.split(",")[2:]] for line in out.read_text().splitlines()[1:]])
    with torch.no_grad():
        probabilities = model.probabilities(model(torch.from_numpy(rows).float())).numpy()
    np.testing.assert_allclose(probabilities, written, atol=2e-6)


def test_a_regressor_loads_and_the_wrong_class_is_named(compose_config, tmp_path):
    train(compose_config("experiment=hours_linear", "trainer.max_epochs=5"))
    last = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    model = Regressor.load_from_checkpoint(last)
    assert model.task == "regression" and model(torch.tensor([[4.0]])).shape == (1, 1)
    with pytest.raises(TypeError, match="holds a Regressor, not a Classifier; load it with Regressor"):
        Classifier.load_from_checkpoint(last)
    with pytest.raises(TypeError, match="takes no overrides"):
        Regressor.load_from_checkpoint(last, net=None)
