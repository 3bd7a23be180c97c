"""OptimWrapper: backward, gradient accumulation, clipping and stepping behind one call."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch

from customrun_core import distributed
from customrun_core.config import types
from customrun_core.errors import ConfigError, NonFiniteLossError

_NO_CONTEXT = contextlib.nullcontext()


class OptimWrapper:
    """MMEngine's optimizer wrapper around a ``torch.optim`` optimizer.

    With more than one parameter group (per-parameter settings), ``param_groups`` holds one more,
    pseudo group: a copy of the optimizer's defaults holding no real parameter. Schedulers step it
    like the others, so ``get_lr()["base_lr"]`` is the scheduled base learning rate, which the
    real groups' multipliers scale (MMEngine's design; it is saved in ``state_dict``).

    Args:
        optimizer: the optimizer whose steps this wrapper takes.
        accumulative_counts: backward passes per optimizer step (gradient accumulation).
        clip_grad: ``{type = "norm", max_norm, norm_type}`` or ``{type = "value", clip_value}``;
            the total norm before clipping is kept as ``last_grad_norm`` for logging.

    Attributes:
        before_step_hooks: called as ``before_step_hooks(optim_wrapper=self)`` by
            :meth:`gradients_ready` on every step, before clipping; the runner sets it to fire the
            ``before_optimizer_step`` hook point when a hook implements it, else leaves it None.
    """

    nonfinite_check_every = 50  # off the CPU: losses checked in batches (see check_losses)

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        accumulative_counts: int = 1,
        clip_grad: dict[str, Any] | None = None,
    ) -> None:
        if accumulative_counts < 1:
            raise ConfigError(
                f"expected an integer >= 1, got {accumulative_counts}", key="accumulative_counts"
            )
        self.optimizer = optimizer
        self.base_param_settings: dict[str, Any] | None = None
        if len(optimizer.param_groups) > 1:
            self.base_param_settings = {"params": torch.zeros(1), **optimizer.defaults}
        self.accumulative_counts = accumulative_counts
        self.clip_grad = self._check_clip_grad(clip_grad)
        self.last_grad_norm: torch.Tensor | None = None
        self._inner_count = 0
        self._max_counts = -1
        self._remainder = 0
        self.on_nonfinite = "error"  # the config's ``on_nonfinite``, set by the runner
        self.max_nonfinite_skips = 10  # the config's: consecutive skips before "skip" gives up
        self.nonfinite_steps = 0  # losses skipped or let through by that policy
        self._skips_in_a_row = 0  # iterations skipped since the last optimizer step
        self._unchecked: list[tuple[int, torch.Tensor, dict[str, torch.Tensor] | None]] = []
        self.logger: Any = None
        self.before_step_hooks: Callable[..., None] | None = None

    @staticmethod
    def _check_clip_grad(clip_grad: dict[str, Any] | None) -> dict[str, Any] | None:
        if not clip_grad:
            return None
        cfg = dict(clip_grad)
        kind = cfg.pop("type", "norm")
        if kind not in ("norm", "value"):
            raise ConfigError(f"expected 'norm' or 'value', got {kind!r}", key="clip_grad.type")
        needed = "max_norm" if kind == "norm" else "clip_value"
        if needed not in cfg:
            raise ConfigError(f"clipping by {kind} needs {needed}", key=f"clip_grad.{needed}")
        # MMEngine takes 0 or a negative bound silently: clipping to it zeroes or flips every gradient
        problem = types.check(cfg[needed], float) or types.check_minimum(cfg[needed], 0, exclusive=True)
        if problem:
            raise ConfigError(problem, key=f"clip_grad.{needed}")
        return {"type": kind, **cfg}

    # The run tells the wrapper its length so the last, incomplete window divides by its real size.
    def initialize_count_status(self, model: Any, init_counts: int, max_counts: int) -> None:
        self._inner_count = init_counts
        self._max_counts = max_counts
        self._remainder = max_counts % self.accumulative_counts

    @property
    def inner_count(self) -> int:
        return self._inner_count

    def update_params(
        self,
        loss: torch.Tensor,
        step_kwargs: dict | None = None,
        zero_kwargs: dict | None = None,
        terms: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Scale the loss for accumulation, backward, and step + zero_grad at a window's end.

        A loss that is not finite is handled by ``on_nonfinite`` first (``terms``, the loss's
        parts, name the culprit in the message): ``"error"`` raises :class:`NonFiniteLossError`,
        ``"skip"`` leaves this iteration's loss out (its window still ends where it would),
        ``"warn"`` logs and goes on.
        """
        skip = False
        if self._deferred_check(loss):
            self._unchecked.append((self._inner_count + 1, loss.detach(), terms))
            if len(self._unchecked) >= self.nonfinite_check_every:
                self.check_losses()
        elif not self._loss_is_finite(loss):
            self._nonfinite(self._inner_count + 1, loss, terms)
            skip = self.on_nonfinite == "skip"
        if skip:
            self._inner_count += 1  # counted, so that the window ends where it would
        else:
            self.backward(self.scale_loss(loss))
        if self.should_update():
            skipped = self.nonfinite_steps
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))
            if not skip and self.nonfinite_steps == skipped:
                self._skips_in_a_row = 0  # a step of finite gradients was taken

    def set_nonfinite_policy(self, on_nonfinite: str, max_skips: int, logger: Any) -> None:
        """The config's ``on_nonfinite`` and ``max_nonfinite_skips``, and the run's logger (for the
        warnings of ``"skip"`` and ``"warn"``); the runner sets them on every optim wrapper."""
        self.on_nonfinite, self.max_nonfinite_skips, self.logger = on_nonfinite, max_skips, logger

    def _deferred_check(self, loss: torch.Tensor) -> bool:
        """Whether this loss's check waits (on an accelerator, where reading a loss stalls the
        queue of kernels, for ``"error"`` and ``"warn"``: ``"skip"`` must know before the step)."""
        return self.nonfinite_check_every > 1 and self.on_nonfinite != "skip" and not loss.is_cpu

    def check_losses(self) -> None:
        """Check the losses whose check waited (one device read for all of them), as ``update_params``
        does at once on the CPU. Called every ``nonfinite_check_every`` iterations and before a
        checkpoint is taken (``state_dict``), so that no checkpoint holds what a bad loss did."""
        if not self._unchecked:
            return
        pending, self._unchecked = self._unchecked, []
        finite = torch.stack([torch.isfinite(loss).all() for _, loss, _ in pending]).tolist()
        for ok, (iteration, loss, terms) in zip(finite, pending, strict=True):
            if not ok:
                self._nonfinite(iteration, loss, terms, late=len(pending) > 1)

    def _loss_is_finite(self, loss: torch.Tensor) -> bool:
        if loss.is_cpu and loss.numel() == 1:
            finite = math.isfinite(loss.item())  # a tenth of the cost of the tensor ops below
        else:
            finite = bool(torch.isfinite(loss.detach()).all())
        if self.on_nonfinite == "skip" and distributed.is_distributed():
            finite = distributed.all_reduce_sum([float(not finite)])[0] == 0  # all skip, or none
        return finite

    def _nonfinite(
        self, iteration: int, loss: torch.Tensor, terms: dict[str, torch.Tensor] | None, late: bool = False
    ) -> None:
        parts = ", ".join(f"{name}={float(value):.4g}" for name, value in (terms or {}).items())
        what = f"iteration {iteration}: loss is {float(loss.detach().float().sum()):g}"
        what += f" ({parts})" if parts else ""
        if late:
            what += f" (found at iteration {self._inner_count + 1}: checked every {self.nonfinite_check_every} on {loss.device.type})"
        if self.on_nonfinite == "error":
            raise NonFiniteLossError(
                f'{what}; on_nonfinite = "error" stops the run ("skip" leaves such losses out)'
            )
        self.nonfinite_steps += 1
        action = "left out" if self.on_nonfinite == "skip" else 'used anyway (on_nonfinite = "warn")'
        if self.logger is not None:
            self.logger.warning(f"{what}: {action}")
        if self.on_nonfinite == "skip":
            self._count_skip(what)

    def _nonfinite_gradients(self, what: str) -> None:
        self.nonfinite_steps += 1
        if self.logger is not None:
            self.logger.warning(f"{what}: step left out")
        self._count_skip(what)

    def _count_skip(self, what: str) -> None:
        """One more iteration skipped since the last step; more than ``max_nonfinite_skips`` in a
        row means skipping cannot recover (the weights or the data keep producing them)."""
        self._skips_in_a_row += 1
        if self._skips_in_a_row > self.max_nonfinite_skips:
            raise NonFiniteLossError(
                f"{what}; {self._skips_in_a_row} iterations in a row skipped (max_nonfinite_skips ="
                f" {self.max_nonfinite_skips}): skipping cannot recover, the run stops"
            )

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        if self.accumulative_counts == 1:
            return loss
        if self._max_counts == -1 or self._inner_count < self._max_counts - self._remainder:
            return loss / self.accumulative_counts
        return loss / self._remainder

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        loss.backward(**kwargs)
        self._inner_count += 1

    def should_update(self) -> bool:
        return self._inner_count % self.accumulative_counts == 0 or self._inner_count == self._max_counts

    def should_sync(self) -> bool:
        count = self._inner_count + 1
        return count % self.accumulative_counts == 0 or count == self._max_counts

    def step(self, **kwargs: Any) -> None:
        """Fire ``before_optimizer_step`` (:meth:`gradients_ready`), clip the gradients
        (:meth:`clip_grads`), then step the optimizer. Under ``on_nonfinite = "skip"`` a step whose
        gradients are not all finite (of a finite loss: a NaN in backward) is left out too."""
        self.gradients_ready()
        if self.on_nonfinite == "skip" and not self._gradients_are_finite():
            self._skip_step()
            return
        self.clip_grads()
        self.optimizer.step(**kwargs)

    def _gradients_are_finite(self) -> bool:
        """Whether every gradient is finite, on every process (FSDP's are shards: each process
        checks its own). One device read for all of them."""
        grads = [p.grad for p in self._params() if p.grad is not None]
        grads = [g.to_local() if hasattr(g, "to_local") else g for g in grads]
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True
        if distributed.is_distributed():
            finite = distributed.all_reduce_sum([float(not finite)])[0] == 0  # all skip, or none
        return finite

    def _skip_step(self) -> None:
        bad = [
            f"{index}.{position}"
            for index, group in enumerate(self.optimizer.param_groups)
            for position, p in enumerate(group["params"])
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
        ]  # a skip is rare: naming the culprits costs nothing that matters
        where = f" (group.parameter {', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''})" if bad else ""
        self._nonfinite_gradients(
            f"step after iteration {self._inner_count}: a gradient is not finite{where}"
        )

    def gradients_ready(self) -> None:
        """Fire the ``before_optimizer_step`` hooks, if any (:attr:`before_step_hooks`).

        :meth:`step` calls it first. A subclass whose ``step`` does not go through this one calls
        it itself once the gradients are final and before :meth:`clip_grads` (AmpOptimWrapper:
        after unscaling), so that hooks see the true gradients before clipping.
        """
        if self.before_step_hooks is not None:
            self.before_step_hooks(optim_wrapper=self)

    def zero_grad(self, **kwargs: Any) -> None:
        self.optimizer.zero_grad(**kwargs)

    def clip_grads(self) -> None:
        """Clip the gradients of the optimizer's parameters as ``clip_grad`` says; nothing without it.

        Clipping by norm keeps the total norm before clipping as ``last_grad_norm`` (what
        ``log_values`` reports as ``grad_norm``). A subclass that scales gradients unscales them
        before calling this (AmpOptimWrapper), so the bound applies to the true gradients.
        """
        if self.clip_grad is None:
            return
        params = [p for p in self._params() if p.grad is not None]
        if not params:
            return
        cfg = dict(self.clip_grad)
        if cfg.pop("type") == "norm":
            norm = torch.nn.utils.clip_grad_norm_(params, **cfg)
            # FSDP's gradients are DTensors: their norm is one too, of the whole gradient
            self.last_grad_norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        else:
            torch.nn.utils.clip_grad_value_(params, **cfg)

    def optim_context(self, model: Any) -> contextlib.AbstractContextManager[Any]:
        """The forward pass runs inside this; on accumulation steps it skips DDP's all-reduce
        (``no_sync``) or FSDP's reduce-scatter (``set_requires_gradient_sync``). Otherwise it is
        a shared do-nothing context (no generator to build every iteration)."""
        # Looked up on the class: on a module, hasattr of a missing name goes through
        # nn.Module.__getattr__ and an AttributeError (1.2 us, every iteration).
        model_class = type(model)
        if hasattr(model_class, "set_requires_gradient_sync"):  # FSDP: the setting holds until changed
            model.set_requires_gradient_sync(self.should_sync())
        if not self.should_sync() and hasattr(model_class, "no_sync"):
            return model.no_sync()
        return _NO_CONTEXT

    def log_values(self) -> dict[str, Any]:
        """Values the logger records after each step (``grad_norm`` when clipping by norm).

        Subclasses add their own (AmpOptimWrapper: ``loss_scale``, ``skipped_steps``).
        """
        values: dict[str, Any] = {} if self.last_grad_norm is None else {"grad_norm": self.last_grad_norm}
        if self.nonfinite_steps:
            values["nonfinite_steps"] = self.nonfinite_steps
        return values

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's groups, plus the pseudo base group when there are several."""
        groups = self.optimizer.param_groups
        return groups if self.base_param_settings is None else [*groups, self.base_param_settings]

    def get_lr(self) -> dict[str, list[float]]:
        """``{"lr": [each group's lr]}``, plus ``"base_lr"`` when there are several groups."""
        lrs = {"lr": [group["lr"] for group in self.optimizer.param_groups]}
        if self.base_param_settings is not None:
            lrs["base_lr"] = [self.base_param_settings["lr"]]
        return lrs

    def get_momentum(self) -> dict[str, list[float]]:
        """``{"momentum": [...]}``: each group's ``momentum``, else ``betas[0]``, else 0."""
        values = []
        for group in self.optimizer.param_groups:
            if "momentum" in group:
                values.append(group["momentum"])
            elif "betas" in group:
                values.append(group["betas"][0])
            else:
                values.append(0.0)
        return {"momentum": values}

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state dict, the base settings, and inside an accumulation window the
        gradients accumulated so far (``pending_grads``, one per parameter in group order), so that
        a run resumed from a checkpoint taken mid-window takes the same step.

        Under a process group the pending gradients differ per process and only rank 0 saves:
        they are left out, and a run resumed from such a checkpoint loses that window's part.
        """
        self.check_losses()
        state = self.optimizer.state_dict()
        if self.base_param_settings is not None:
            state["base_param_settings"] = self.base_param_settings
        if self._inner_count % self.accumulative_counts and not distributed.is_initialized():
            state["pending_grads"] = [p.grad for p in self._params()]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        base = state_dict.pop("base_param_settings", None)
        if base is not None:
            self.base_param_settings = base
        pending = state_dict.pop("pending_grads", None)
        self.optimizer.load_state_dict(state_dict)
        if pending is not None:
            for param, grad in zip(self._params(), pending, strict=True):
                param.grad = None if grad is None else grad.to(param.device, param.dtype).clone()

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]
