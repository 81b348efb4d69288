"""Seeded, stratified train/val/test splits of a label vector."""

from __future__ import annotations

import torch


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Fractions are each in (0, 1) and leave something to train on."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"data.{name} must lie between 0 and 1, got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"data.val_fraction + data.test_fraction must sum below 1 to leave a training split, got "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction}; lower one of them"
        )


def stratified_split(
    labels: torch.Tensor, val_fraction: float, test_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of train, val and test: each class is shuffled and cut in the same proportions."""
    check_fractions(val_fraction, test_fraction)
    parts: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] = ([], [], [])
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = round(len(members) * val_fraction)
        n_test = round(len(members) * test_fraction)
        counts = {"train": len(members) - n_val - n_test, "val": n_val, "test": n_test}
        if min(counts.values()) < 1:
            raise ValueError(
                f"class {cls} has {len(members)} samples, which leaves {counts} after the split: "
                "every split needs every class. Raise data.val_fraction / data.test_fraction or "
                "lower them so each split keeps at least one sample of each class"
            )
        parts[1].append(members[:n_val])
        parts[2].append(members[n_val : n_val + n_test])
        parts[0].append(members[n_val + n_test :])
    # Sort so the stored order does not depend on class order; shuffling happens per epoch.
    train, val, test = (torch.sort(torch.cat(p)).values for p in parts)
    return train, val, test
