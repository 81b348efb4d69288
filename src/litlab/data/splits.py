"""Seeded, stratified train/val/test splits of a label vector."""

from __future__ import annotations

import torch


def check_fractions(**fractions: float) -> None:
    """Held-out fractions (val_fraction=..., ...) each lie in (0, 1) and leave a training split."""
    for name, value in fractions.items():
        if not 0.0 < value < 1.0:
            raise ValueError(f"data.{name} must lie between 0 and 1, got {value}")
    if sum(fractions.values()) >= 1.0:
        names = " + ".join(f"data.{name}" for name in fractions)
        values = " + ".join(map(str, fractions.values()))
        raise ValueError(
            f"{names} must sum below 1 to leave a training split, got {values} = "
            f"{sum(fractions.values())}; lower one of them"
        )


def stratified_parts(
    labels: torch.Tensor, fractions: dict[str, float], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Cut each class, shuffled, into the named fractions in order; what remains is "train".

    Every part keeps at least one sample of every class, so per-class metrics exist in each split.
    """
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in [*fractions, "train"]}
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        counts = {name: round(len(members) * fraction) for name, fraction in fractions.items()}
        counts["train"] = len(members) - sum(counts.values())
        if min(counts.values()) < 1:
            options = " / ".join(f"data.{name}_fraction" for name in fractions)
            raise ValueError(
                f"class {cls} has {len(members)} samples, which leaves {counts} after the split: "
                f"every split needs every class. Change {options} so each split keeps at least one "
                "sample of each class"
            )
        start = 0
        for name, count in counts.items():
            parts[name].append(members[start : start + count])
            start += count
    # Sorted, so the stored order does not depend on class order; shuffling happens per epoch.
    return {name: torch.sort(torch.cat(chunks)).values for name, chunks in parts.items()}


def stratified_split(
    labels: torch.Tensor, val_fraction: float, test_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of train, val and test: each class is shuffled and cut in the same proportions."""
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction)
    parts = stratified_parts(labels, {"val": val_fraction, "test": test_fraction}, generator)
    return parts["train"], parts["val"], parts["test"]
