"""How much memory a device has free: for estimates made before a large allocation."""

from __future__ import annotations

from typing import Any


def available_bytes(device: Any) -> int:
    """Free bytes on `device`: a GPU's free memory, or the machine's available memory (MemAvailable)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")  # where /proc is absent (macOS)


def size_text(count: float) -> str:
    """Bytes as people read them: 512 B, 4.0 KiB, 12.5 MiB, 3.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
