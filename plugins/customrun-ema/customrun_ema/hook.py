"""EMAHook: a moving average of the model's weights (MMEngine's), swapped in for validation and test.

Written against customrun's public API only: :class:`customrun_core.Hook`, :func:`unwrap_model`,
the hook points' arguments and the runner attributes hooks may read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from customrun_core import Hook, Priority, unwrap_model
from customrun_core.errors import ConfigError

from customrun_ema.averaging import Averaging, build_averaging

if TYPE_CHECKING:
    from torch import Tensor

EMA_KEY = "ema_state_dict"
"""The checkpoint key holding the average's state (MMEngine's name and layout)."""

_PREFIX = "module."  # MMEngine's layout: the averaged model's keys under ``module.``


def _check_begin(begin_iter: int, begin_epoch: int) -> None:
    """Refuse what MMEngine asserts on, naming the argument."""
    for key, value in (("begin_iter", begin_iter), ("begin_epoch", begin_epoch)):
        if value < 0:
            raise ConfigError(f"expected an integer >= 0, got {value}", key=key)
    if begin_iter and begin_epoch:
        raise ConfigError("set begin_iter or begin_epoch, not both", key="begin_epoch")


class EMAHook(Hook):
    """Keeps an average of the model's weights, as MMEngine's EMAHook; validation and test use it.

    After each training iteration from ``begin_iter`` (or ``begin_epoch``) on, the update count
    ``steps`` goes up by one, and every ``interval`` updates the average takes the strategy's next
    value (``ema_type``, see :mod:`customrun_ema.averaging`); the first update copies the weights,
    and so does every iteration before the start. Validation and test run on the average: it is
    copied into the model at ``before_val_epoch`` / ``before_test_epoch`` and the model's own
    weights come back at ``after_val_epoch`` / ``after_test_epoch``. Checkpoints hold the average
    under ``state_dict`` (ready to deploy or test) and, under ``ema_state_dict``, the update count
    and the training weights (MMEngine's layout); resuming puts both back.

    Args:
        ema_type: the strategy: ``"ExponentialMovingAverage"`` (the default),
            ``"MomentumAnnealingEMA"`` or ``"StochasticWeightAverage"``.
        strict_load: refuse a checkpoint whose keys do not match the average's (otherwise a warning
            names them).
        begin_iter: start when ``runner.iter + 1 >= begin_iter``.
        begin_epoch: start when ``runner.epoch + 1 >= begin_epoch`` (not with ``begin_iter``).
        momentum: the weight of the current weights in each update, in (0, 1); MMEngine's default
            0.0002 when not given. Not for ``StochasticWeightAverage``.
        gamma: ``MomentumAnnealingEMA`` only: the momentum is ``max(momentum, gamma / (gamma +
            steps))``; MMEngine's default 100 when not given.
        interval: average every ``interval`` updates.
        update_buffers: also average the buffers (BatchNorm statistics; integer buffers are copied);
            otherwise validation uses the model's own buffers.

    Attributes:
        averaged: the average, by ``state_dict`` key (parameters only unless ``update_buffers``).
        steps: the count of updates since the average started (MMEngine's ``steps``).
        averaging: the strategy that ``ema_type`` names.
    """

    priority = Priority.NORMAL  # MMEngine's; mmdet/mmyolo configs say 49, which works here too

    def __init__(
        self,
        ema_type: str = "ExponentialMovingAverage",
        strict_load: bool = False,
        begin_iter: int = 0,
        begin_epoch: int = 0,
        *,
        momentum: float | None = None,
        gamma: float | None = None,
        interval: int = 1,
        update_buffers: bool = False,
    ) -> None:
        _check_begin(begin_iter, begin_epoch)
        self.averaging: Averaging = build_averaging(ema_type, interval, momentum, gamma)
        self.update_buffers, self.strict_load = update_buffers, strict_load
        self.begin_iter, self.begin_epoch = begin_iter, begin_epoch
        self.averaged: dict[str, Tensor] = {}
        self.steps = 0
        self._model: Any = None
        self._kept: dict[str, Tensor] | None = None  # the model's own weights while it holds the average

    # -- hook points ------------------------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        """Start an average of this run's model: a copy of its weights (kept when the same model runs
        again, so ``runner.test()`` after ``runner.train()`` tests the average)."""
        model = unwrap_model(runner.model)
        if model is not self._model:
            self._model = model
            self.averaged = {key: value.detach().clone() for key, value in self._weights().items()}
            self.steps = 0

    def before_train(self, runner: Any) -> None:
        # as MMEngine, only the bound in use is checked (an iteration-based loop's epochs are moot)
        if self.begin_epoch > 0 and self.begin_epoch > runner.max_epochs:
            raise ConfigError(
                f"expected at most max_epochs ({runner.max_epochs}), got {self.begin_epoch}: "
                "the average would never start",
                key="EMAHook.begin_epoch",
            )
        if self.begin_epoch == 0 and self.begin_iter > runner.max_iters:
            raise ConfigError(
                f"expected at most max_iters ({runner.max_iters}), got {self.begin_iter}: "
                "the average would never start",
                key="EMAHook.begin_iter",
            )

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if self._started(runner):
            self._update()
        else:
            self._copy_weights()

    def before_val_epoch(self, runner: Any) -> None:
        self._swap_in()

    def after_val_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._swap_back()

    def before_test_epoch(self, runner: Any) -> None:
        self._swap_in()

    def after_test_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._swap_back()

    def before_save_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """Add ``ema_state_dict`` and put the average under ``state_dict`` (MMEngine's layout)."""
        import torch

        state = checkpoint["state_dict"]
        if self._kept is not None:  # saved during validation: the model holds the average
            state.update(self._kept)
        # Every key of the model under ``module.`` as MMEngine writes them; a buffer that is not
        # averaged is the model's own on both sides, so that the deployed weights keep their statistics.
        checkpoint[EMA_KEY] = {
            "steps": torch.tensor(self.steps),
            **{_PREFIX + k: self.averaged.get(k, v) for k, v in state.items()},
        }
        _swap_entries(state, checkpoint[EMA_KEY])

    def after_load_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        """Resuming: take the average back and give ``state_dict`` its training weights again. Loading
        weights (``load_from``): the average starts from the checkpoint's ``state_dict``."""
        ema = checkpoint.get(EMA_KEY)
        if ema is None:
            runner.logger.warning(
                f"EMAHook: the checkpoint has no {EMA_KEY!r} (it was saved without EMAHook): "
                "the average starts from its weights"
            )
        if ema is not None and _resuming(runner):
            _swap_entries(checkpoint["state_dict"], ema)
            self._load(ema, runner)
        else:
            self._load({_PREFIX + k: v for k, v in checkpoint["state_dict"].items()}, runner)

    # -- the average ------------------------------------------------------------------------------
    def _weights(self) -> dict[str, Tensor]:
        """The model's tensors that are averaged, sharing its storage."""
        if self.update_buffers:
            return self._model.state_dict()
        return {key: param.detach() for key, param in self._model.named_parameters()}

    def _started(self, runner: Any) -> bool:
        if self.begin_epoch > 0:
            return runner.epoch + 1 >= self.begin_epoch
        return runner.iter + 1 >= self.begin_iter

    def _update(self) -> None:
        import torch

        if self.steps % self.averaging.interval == 0:
            weights = self._weights()
            with torch.no_grad():
                for key, averaged in self.averaged.items():
                    weight = weights[key].to(averaged.device)
                    if self.steps == 0 or not averaged.is_floating_point():
                        averaged.copy_(weight)
                    else:
                        averaged.copy_(self.averaging.average(averaged, weight, self.steps))
        self.steps += 1

    def _copy_weights(self) -> None:
        import torch

        weights = self._weights()
        with torch.no_grad():
            for key, averaged in self.averaged.items():
                averaged.copy_(weights[key])

    def _swap_in(self) -> None:
        """Keep a copy of the model's weights and give the model the average."""
        import torch

        weights = self._weights()
        with torch.no_grad():
            self._kept = {key: weights[key].clone() for key in self.averaged}
            for key, averaged in self.averaged.items():
                weights[key].copy_(averaged)

    def _swap_back(self) -> None:
        """Give the model its own weights again."""
        import torch

        if self._kept is None:
            return
        weights = self._weights()
        with torch.no_grad():
            for key, kept in self._kept.items():
                weights[key].copy_(kept)
        self._kept = None

    def _load(self, state: Mapping[str, Any], runner: Any) -> None:
        """Set the average from ``module.``-prefixed ``state`` (and ``steps`` when it has one)."""
        import torch

        keys = {key.removeprefix(_PREFIX) for key in state if key.startswith(_PREFIX)}
        # the model's other buffers may be there (MMEngine writes them) but are not needed
        missing, unexpected = sorted(set(self.averaged) - keys), sorted(keys - set(self._model.state_dict()))
        if missing or unexpected:
            message = (
                f"EMAHook: checkpoint keys differ from the average's: "
                f"missing {missing}, unexpected {unexpected}"
            )
            if self.strict_load:
                raise ConfigError(message.removeprefix("EMAHook: "), key="EMAHook.strict_load")
            runner.logger.warning(message)
        with torch.no_grad():
            for key in set(self.averaged) & keys:
                self.averaged[key].copy_(state[_PREFIX + key])
        if "steps" in state:
            self.steps = int(state["steps"])


def _swap_entries(state_dict: dict[str, Any], ema: dict[str, Any]) -> None:
    """Exchange ``state_dict[k]`` and ``ema["module." + k]`` (the tensors, not their values)."""
    for key in [k for k in ema if k.startswith(_PREFIX)]:
        name = key.removeprefix(_PREFIX)
        if name in state_dict:
            state_dict[name], ema[key] = ema[key], state_dict[name]


def _resuming(runner: Any) -> bool:
    """Whether the checkpoint being loaded resumes training (not ``load_from`` weights, not test)."""
    return bool(runner.cfg.resume) and runner.train_loop is not None
