"""Which device a run trains on: the config's ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import torch

from customrun_core.errors import ConfigError

__all__ = ["pick_device"]


def pick_device(device: str) -> torch.device:
    """The device ``device`` names; ``auto`` is CUDA when torch sees a GPU, else the CPU.

    Raises:
        ConfigError: at ``device``, for a name torch does not know, a device type other than CPU
            and CUDA (``meta``, ``xla``, ``mps``, ...), or a GPU torch does not see.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "expected 'auto', 'cpu', 'cuda' or 'cuda:N'"
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"{expected}, got {device!r}", key="device") from None
    # torch names more device types (meta, xla, mps, ...): customrun trains on the CPU or CUDA only,
    # and a meta model, say, would fail deep inside training rather than here
    if chosen.type not in ("cpu", "cuda"):
        raise ConfigError(
            f"{expected}, got {device!r} (customrun trains on the CPU or a CUDA GPU only)", key="device"
        )
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{device!r} asked for, but torch sees no CUDA device", key="device")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(
            f"{device!r} asked for, but torch sees {count} CUDA device{'s' * (count != 1)}"
            f" (cuda:0 to cuda:{count - 1})",
            key="device",
        )
    return chosen
