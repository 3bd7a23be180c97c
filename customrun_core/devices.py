"""Which device a run trains on: the config's ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import torch

from customrun_core.errors import ConfigError

__all__ = ["pick_device"]


def pick_device(device: str) -> torch.device:
    """The device ``device`` names; ``auto`` is CUDA when torch sees a GPU, else the CPU.

    Raises:
        ConfigError: at ``device``, for a name torch does not know or a GPU torch does not see.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ConfigError(
            f"expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}", key="device"
        ) from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{device!r} asked for, but torch sees no CUDA device", key="device")
    return chosen
