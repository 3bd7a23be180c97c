"""AmpOptimWrapper: the forward pass under ``torch.autocast``, the loss scaled by a ``GradScaler``."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from customrun_core.errors import ConfigError, closest, describe
from customrun_core.optim import OptimWrapper

__all__ = ["AmpOptimWrapper", "build_loss_scaler", "resolve_dtype"]

DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# GradScaler's arguments a ``loss_scale`` table may set: the check, and what the check expects.
_SCALER_ARGUMENTS: dict[str, tuple[Any, str]] = {
    "init_scale": (lambda v: _is_number(v) and 0 < v < math.inf, "a number > 0"),
    "growth_factor": (lambda v: _is_number(v) and 1 < v < math.inf, "a number > 1"),
    "backoff_factor": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
    "growth_interval": (lambda v: _is_integer(v) and v >= 1, "an integer >= 1"),
    "enabled": (lambda v: isinstance(v, bool), "a boolean"),
}
_LOSS_SCALE_EXPECTED = "expected 'dynamic', a number > 0 (a static scale) or a table of GradScaler arguments"


def parameters_device(optimizer: torch.optim.Optimizer) -> torch.device:
    """The device of the optimizer's first parameter (the CPU for an optimizer without any)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            device: torch.device = param.device
            return device
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``device``: the one asked for, else bfloat16 on the CPU and the
    device's autocast default elsewhere (float16 on CUDA).

    Raises:
        ConfigError: (key ``dtype``) an unknown dtype, float16 on the CPU, bfloat16 on a CUDA device
            without native bfloat16, or a device torch has no autocast for.
    """
    if not torch.amp.is_autocast_available(device.type):
        raise ConfigError(f"torch has no autocast for the parameters' device {device.type!r}", key="dtype")
    if dtype is None:
        return torch.bfloat16 if device.type == "cpu" else torch.get_autocast_dtype(device.type)
    chosen = DTYPES.get(dtype) if isinstance(dtype, str) else dtype
    if chosen is None or chosen not in DTYPES.values():
        raise ConfigError(
            f"expected 'float16' or 'bfloat16', got {describe(dtype)}",
            key="dtype",
            suggestions=closest(str(dtype), DTYPES),
        )
    if device.type == "cpu" and chosen == torch.float16:
        raise ConfigError(
            "float16 is not supported on the CPU: use 'bfloat16' (the CPU default)", key="dtype"
        )
    if device.type == "cuda" and chosen == torch.bfloat16 and not _cuda_has_bfloat16(device):
        name = torch.cuda.get_device_name(device)
        raise ConfigError(f"{name} has no native bfloat16: use 'float16' (the CUDA default)", key="dtype")
    return chosen


def _cuda_has_bfloat16(device: torch.device) -> bool:
    # Native bfloat16 from Ampere (compute capability 8.0) on; ROCm devices have it too.
    return torch.version.hip is not None or torch.cuda.get_device_capability(device) >= (8, 0)


def build_loss_scaler(
    loss_scale: Any, dtype: torch.dtype, device: torch.device
) -> tuple[torch.amp.GradScaler | None, float | None]:
    """The ``GradScaler`` that ``loss_scale`` asks for (None: no scaling) and the static scale, if any.

    ``"dynamic"`` scales float16 only: bfloat16 has float32's exponent range, so its gradients
    neither underflow nor need a scale. A number or a table is an explicit request and gives a
    scaler whatever the dtype (on the CPU too).

    Raises:
        ConfigError: (key ``loss_scale`` or ``loss_scale.<argument>``) a value of another kind, a
            scale <= 0, an argument GradScaler does not take or a value it refuses.
    """
    if isinstance(loss_scale, str):
        if loss_scale != "dynamic":
            raise ConfigError(
                f"{_LOSS_SCALE_EXPECTED}, got {describe(loss_scale)}",
                key="loss_scale",
                suggestions=closest(loss_scale, ["dynamic"]),
            )
        return (torch.amp.GradScaler(device.type) if dtype == torch.float16 else None), None
    if _is_number(loss_scale):
        if not 0 < loss_scale < math.inf:
            raise ConfigError(f"expected a number > 0, got {describe(loss_scale)}", key="loss_scale")
        scale = float(loss_scale)  # TOML users write 512: an integer is a static scale too
        return torch.amp.GradScaler(device.type, init_scale=scale), scale
    if isinstance(loss_scale, Mapping):
        kwargs = _check_scaler_table(loss_scale)
        if not kwargs.get("enabled", True):
            return None, None
        return torch.amp.GradScaler(device.type, **kwargs), None
    raise ConfigError(f"{_LOSS_SCALE_EXPECTED}, got {describe(loss_scale)}", key="loss_scale")


def _check_scaler_table(table: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in table.items():
        if name not in _SCALER_ARGUMENTS:
            raise ConfigError(
                f"GradScaler has no argument {name!r} (it takes {', '.join(_SCALER_ARGUMENTS)})",
                key=f"loss_scale.{name}",
                suggestions=closest(name, _SCALER_ARGUMENTS),
            )
        fits, expected = _SCALER_ARGUMENTS[name]
        if not fits(value):
            raise ConfigError(f"expected {expected}, got {describe(value)}", key=f"loss_scale.{name}")
    return dict(table)


# The two readings of GradScaler's internals below avoid a GPU synchronisation every step. The
# public alternative, get_scale(), copies the scale to the host; comparing it around update()
# would also miss the skips of a static scale, which update(x) resets.
def _found_inf(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """1 if ``scaler.step`` just skipped the step (an inf/NaN gradient), else 0; valid until update()."""
    flags: list[torch.Tensor] = list(scaler._found_inf_per_device(optimizer).values())
    return (torch.stack([flag.to(flags[0].device) for flag in flags]).sum() > 0).long()


def _has_gradients(optimizer: torch.optim.Optimizer) -> bool:
    # Stops at the first parameter with a gradient: the first one, on every step but a skipped one.
    return any(p.grad is not None for group in optimizer.param_groups for p in group["params"])


def _scale_tensor(scaler: torch.amp.GradScaler) -> torch.Tensor | float:
    """The current scale, as a copy of the device tensor once the scaler has scaled a loss."""
    scale = scaler._get_scale_async()
    return scaler.get_scale() if scale is None else scale.detach().clone()


class AmpOptimWrapper(OptimWrapper):
    """MMEngine's ``AmpOptimWrapper``: ``optim_context`` adds ``torch.autocast`` and, when a loss
    scaler is in use, the loss is scaled before backward and unscaled before clipping and stepping.

    The device is the one of the optimizer's parameters. On the CPU the forward runs in bfloat16,
    with no loss scaling unless ``loss_scale`` is a number or a table.

    Args:
        optimizer: the optimizer whose steps this wrapper takes.
        loss_scale: ``"dynamic"`` (a ``torch.amp.GradScaler`` with its defaults, for float16 only),
            a number (a static scale, kept after every update) or a table of ``GradScaler``
            arguments (``init_scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``,
            ``enabled``), which turns scaling on for bfloat16 too.
        dtype: ``"float16"`` or ``"bfloat16"``; by default float16 on CUDA, bfloat16 on the CPU.
        accumulative_counts: backward passes per optimizer step, as :class:`OptimWrapper`.
        clip_grad: clipping, as :class:`OptimWrapper`; it sees the unscaled gradients.

    Attributes:
        cast_dtype: the autocast dtype.
        loss_scaler: the ``GradScaler``, or None when the loss is not scaled.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        loss_scale: str | float | dict[str, Any] = "dynamic",
        dtype: str | torch.dtype | None = None,
        accumulative_counts: int = 1,
        clip_grad: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(optimizer, accumulative_counts=accumulative_counts, clip_grad=clip_grad)
        self.device = parameters_device(optimizer)
        self.cast_dtype = resolve_dtype(dtype, self.device)
        self.loss_scaler, self._static_scale = build_loss_scaler(loss_scale, self.cast_dtype, self.device)
        self._skipped: torch.Tensor | int = 0  # a device tensor once counting began: no sync per step

    @property
    def loss_scale(self) -> float | None:
        """The current loss scale (read from the device), None when the loss is not scaled."""
        return None if self.loss_scaler is None else self.loss_scaler.get_scale()

    @property
    def skipped_steps(self) -> int:
        """How many optimizer steps the scaler skipped for inf/NaN gradients, resumes included."""
        return int(self._skipped)

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        super().backward(loss, **kwargs)

    def step(self, **kwargs: Any) -> None:
        """Unscale, fire ``before_optimizer_step`` (:meth:`gradients_ready`), clip (if configured),
        step unless a gradient is inf/NaN, update the scale.

        A window without any gradient (its losses all left out by ``on_nonfinite = "skip"``) steps
        as the parent does, without the scaler: there is nothing to unscale, and GradScaler
        refuses to step an optimizer whose gradients it has not checked.
        """
        if self.loss_scaler is None or not _has_gradients(self.optimizer):
            super().step(**kwargs)
            return
        # Unscaled here rather than inside scaler.step (the same work, done once either way), so
        # that hooks see, and clipping bounds and logs the norm of, the true gradients.
        self.loss_scaler.unscale_(self.optimizer)
        self.gradients_ready()
        self.clip_grads()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self._skipped = self._skipped + _found_inf(self.loss_scaler, self.optimizer)
        self.loss_scaler.update(self._static_scale)  # a static scale is set back every step

    @contextlib.contextmanager
    def optim_context(self, model: Any) -> Iterator[None]:
        """The parent's context (DDP ``no_sync`` on accumulation steps) plus ``torch.autocast``."""
        with super().optim_context(model), torch.autocast(self.device.type, dtype=self.cast_dtype):
            yield

    def log_values(self) -> dict[str, Any]:
        """What to log after a step: the parent's values (``grad_norm``, ``nonfinite_steps``), and
        with a loss scaler ``loss_scale`` and ``skipped_steps``; values may be device tensors, read
        only when logged."""
        values = super().log_values()
        if self.loss_scaler is not None:
            values["loss_scale"] = _scale_tensor(self.loss_scaler)
            values["skipped_steps"] = self._skipped
        return values

    def state_dict(self) -> dict[str, Any]:
        """The parent's state plus ``loss_scaler`` (GradScaler's state) and ``skipped_steps``."""
        state = super().state_dict()
        if self.loss_scaler is not None:
            state["loss_scaler"] = self.loss_scaler.state_dict()
            state["skipped_steps"] = self.skipped_steps
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a checkpoint of a plain ``OptimWrapper`` keeps a fresh scaler."""
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop("loss_scaler", None)
        skipped = state_dict.pop("skipped_steps", 0)
        if scaler_state is not None:
            if self.loss_scaler is None:
                warnings.warn(
                    f"the checkpoint holds a loss scaler, but this run scales no loss ({self.cast_dtype}): ignored",
                    stacklevel=2,
                )
            else:
                self.loss_scaler.load_state_dict(scaler_state)
                self._skipped = skipped
        super().load_state_dict(state_dict)
