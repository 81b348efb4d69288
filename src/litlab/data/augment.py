"""Batch-wise image augmentation on the batch's device: one tensor op per batch, no per-sample loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding`, crop back to size at a random offset, and flip half the images left-right.

    Each image gets its own offset and flip. Works on any dtype (uint8 included) and keeps shape and dtype.
    """
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    rows = (dy + torch.arange(h, device=device))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx + torch.arange(w, device=device))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    cropped = padded[batch, channel, rows, cols]
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)
