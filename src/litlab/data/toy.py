"""The lectures' toy problems, made in memory from `seed`: same seed, same data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from litlab.data.classification import ClassificationDataModule
from litlab.data.regression import RegressionDataModule


class GaussianClassesDataModule(ClassificationDataModule):
    """One isotropic Gaussian per class, `n_per_class` points each: the flamingo/seagull lecture's birds.

    Class k is drawn around `means[k]` with standard deviation `std`, in order, from a generator seeded
    with `seed` (the lecture: flamingos [8, 7] label 0, seagulls [5, 3] label 1, std 1.5). The classes
    are the centres: one per entry of `means`.
    """

    def __init__(
        self,
        means: Sequence[Sequence[float]],
        std: float,
        n_per_class: int,
        class_names: Sequence[str] = (),
        standardize: bool = False,
        **kwargs,
    ) -> None:
        # Not standardised by default: the lecture plots the birds in their own units (legs, wingspan).
        super().__init__(standardize=standardize, **kwargs)
        widths = {len(centre) for centre in means}
        if len(means) < 2 or len(widths) != 1:
            raise ValueError(
                "data.means must list at least two class centres of equal length (one per class), "
                f"got {means}"
            )
        if class_names and len(class_names) != len(means):
            raise ValueError(
                f"data.class_names {list(class_names)} names {len(class_names)} classes but data.means has "
                f"{len(means)} class centres; give one name per centre, or data.class_names=[]"
            )
        if std <= 0 or n_per_class < 1:
            raise ValueError(f"data.std must be > 0 and data.n_per_class >= 1, got {std} and {n_per_class}")
        self.means = torch.tensor(means, dtype=torch.float32)
        self.spread = std  # not `std`: that is the standardisation's fitted std
        self.n_per_class = n_per_class
        self.class_names = tuple(class_names)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        generator = torch.Generator().manual_seed(self.seed)
        centres = self.means.repeat_interleave(self.n_per_class, dim=0)
        x = torch.randn(centres.shape, generator=generator) * self.spread + centres
        y = torch.arange(len(self.means)).repeat_interleave(self.n_per_class)
        return x.numpy(), y.numpy()


class MoonsDataModule(ClassificationDataModule):
    """scikit-learn's two interleaving half circles (`make_moons`): no straight line separates them."""

    def __init__(self, n_samples: int = 500, noise: float = 0.2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_samples = n_samples
        self.noise = noise

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_moons  # deferred: importing sklearn takes a second

        # sklearn takes a 32-bit random_state; the seed fixes it, so the same seed gives the same moons.
        x, y = make_moons(n_samples=self.n_samples, noise=self.noise, random_state=self.seed % 2**32)
        return x, y.astype(np.int64)


class ParabolaDataModule(RegressionDataModule):
    """y = (2x - 1)^2 + u with x ~ U(0, 1) and u ~ U(0, noise): the Cagliari lecture's nonlinear data."""

    def __init__(self, n_samples: int = 100, noise: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_samples = n_samples
        self.noise = noise

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        x = torch.rand(self.n_samples, generator=generator)
        y = (2 * x - 1) ** 2 + torch.rand(self.n_samples, generator=generator) * self.noise
        return x[:, None], y


class NoisyLineDataModule(RegressionDataModule):
    """scikit-learn's `make_regression`: a random linear function of the inputs plus Gaussian noise.

    `n_features` is the generator's number of inputs (the lecture's 1). `random_state` fixes the data as
    the sklearn-to-PyTorch lecture does (0); null draws it from `seed`.
    The split always comes from `seed`.
    """

    def __init__(
        self,
        n_samples: int = 100,
        n_features: int = 1,
        noise: float = 20.0,
        random_state: int | None = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        **kwargs,
    ) -> None:
        # 80/10/10: the lecture's 90/10 train/test, with a validation share carved out for checkpoints.
        super().__init__(val_fraction=val_fraction, test_fraction=test_fraction, **kwargs)
        if n_features < 1:
            raise ValueError(f"data.n_features must be >= 1 (make_regression's inputs), got {n_features}")
        self.n_samples = n_samples
        self.n_features = n_features
        self.noise = noise
        self.random_state = random_state

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_regression  # deferred: importing sklearn takes a second

        state = self.seed % 2**32 if self.random_state is None else self.random_state
        return make_regression(
            n_samples=self.n_samples, n_features=self.n_features, noise=self.noise, random_state=state
        )
