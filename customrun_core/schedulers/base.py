"""The base of every parameter scheduler: a window ``[begin, end)`` of steps over param groups."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Sequence
from typing import Any, ClassVar

from customrun_core.config.types import is_number
from customrun_core.errors import ConfigError

INF = 1_000_000_000  # an end that is never reached (MMEngine's INF)


class ParamScheduler:
    """Changes ``param_name`` in every parameter group of an optimizer (or optim wrapper).

    As MMEngine: each group records ``initial_<param_name>`` the first time any scheduler sees it;
    ``step()`` advances a global step counter and, inside ``begin <= step < end``, writes the value
    :meth:`get_value` computes from the current one (so overlapping schedulers compose
    multiplicatively); outside its window a scheduler writes nothing. The constructor takes the
    first step, so the value in effect during step ``k`` is the one written after ``k`` steps.
    ``ParamSchedulerHook`` steps a scheduler after every training iteration when ``by_epoch`` is
    false, after every training epoch when it is true.

    What a subclass (a plugin's scheduler) implements:

    * ``__init__(self, optimizer, param_name, <its own arguments>, begin=0, end=INF, last_step=-1,
      by_epoch=True)``: store its own arguments, then call ``super().__init__`` **last** (it takes
      the first step, which calls :meth:`get_value`). Annotate the arguments: a config's values are
      checked against the signature before the class is called. Raise :class:`ConfigError` with
      ``key=<argument name>`` for a value it refuses. Its LR form is
      ``fixed_param(MyParamScheduler, "lr", "MyLR")``, its momentum form (Adam's ``betas``
      handled) ``fixed_momentum(MyParamScheduler, "MyMomentum")``.
    * :meth:`get_value`: the new value of every entry of ``optimizer.param_groups`` (an optim
      wrapper with several groups adds MMEngine's base group last) at ``self.last_step`` (0 at
      the first step inside the window), from :meth:`current` (chainable form) and/or
      ``self.base_values`` (each group's ``initial_<param_name>``). It is called only inside the
      window.
    * ``epoch_fields``: the names of arguments counted in steps (``step_size``, ``milestones``,
      ``T_max``) that ``convert_to_iter_based`` multiplies by the epoch length; override
      :meth:`to_iter_based` when scaling is not a plain multiplication.
    * Its state is every instance attribute except ``optimizer`` (:meth:`state_dict`); checkpoints
      load with ``torch.load(weights_only=True)``, so keep attributes plain (numbers, strings,
      lists, dicts; no ``Counter``, lambda or ``functools.partial``).
    * ``need_val_args = True`` for a scheduler driven by validation metrics: the hook then calls
      ``step()`` without arguments after each training epoch (to count epochs, nothing else) and
      ``step(metrics)`` in ``after_val_epoch`` (see ``ReduceOnPlateauParamScheduler``).

    MMEngine's ``_get_value`` is :meth:`get_value` here and ``build_iter_from_epoch`` is
    :meth:`to_iter_based`; the rest of MMEngine's ``_ParamScheduler`` contract is unchanged.
    """

    epoch_fields: ClassVar[tuple[str, ...]] = ()
    need_val_args: ClassVar[bool] = False

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"expected an optimizer or optim wrapper, got {type(optimizer).__name__}")
        check_window(begin, end)
        self.optimizer = optimizer
        self.param_name = param_name
        # Kept as given, as MMEngine: a float bound compares with the integer step (``begin = 0.5``
        # starts at step 1); convert_to_iter_based truncates its scaled bounds to integers.
        self.begin, self.end, self.by_epoch = begin, end, by_epoch
        initial = f"initial_{param_name}"
        for group in optimizer.param_groups:
            if param_name not in group:
                raise ConfigError(
                    f"the optimizer's parameter groups have no {param_name!r}", key="param_name"
                )
            if last_step == -1:
                group.setdefault(initial, group[param_name])
        self.base_values = [group[initial] for group in optimizer.param_groups]
        self.last_step = last_step
        self._global_step = last_step
        self._last_value: list[float] = []
        self.step()

    def get_value(self) -> list[float]:
        """The new value of each group at ``self.last_step`` (0 at the window's first step)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step (an iteration or an epoch); inside the window, write the new values."""
        self._global_step += 1
        if self.begin <= self._global_step < self.end:
            self.last_step += 1
            for group, value in zip(self.optimizer.param_groups, self.get_value(), strict=True):
                group[self.param_name] = value
        self._last_value = [group[self.param_name] for group in self.optimizer.param_groups]

    def current(self) -> list[float]:
        """The value each group holds now (what ``get_value`` starts from)."""
        return [group[self.param_name] for group in self.optimizer.param_groups]

    def get_last_value(self) -> list[float]:
        """The value of each group after the last step (MMEngine's name)."""
        return self._last_value

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        vars(self).update(state_dict)

    @classmethod
    def to_iter_based(cls, kwargs: dict[str, Any], epoch_length: int) -> dict[str, Any]:
        """``kwargs`` of an epoch-based scheduler rewritten in iterations (``convert_to_iter_based``)."""
        out = dict(kwargs, by_epoch=False)
        out["begin"] = int(kwargs.get("begin", 0) * epoch_length)
        if kwargs.get("end", INF) != INF:
            out["end"] = int(kwargs["end"] * epoch_length)
        for name in cls.epoch_fields:
            if kwargs.get(name) is not None:
                value = kwargs[name]
                out[name] = (
                    [int(v * epoch_length) for v in value]
                    if isinstance(value, list)
                    else int(value * epoch_length)
                )
        return out


def check_window(begin: Any, end: Any) -> None:
    """A scheduler's window ``[begin, end)`` must hold a step: ``end > begin`` (MMEngine refuses
    the others too, when the scheduler is built)."""
    if is_number(begin) and is_number(end) and end <= begin:
        raise ConfigError(f"expected end > begin, got begin={begin}, end={end}", key="end")


def per_group(optimizer: Any, value: float | Sequence[float], key: str) -> list[float]:
    """One value per group of ``optimizer.param_groups``. A list gives one per group of the torch
    optimizer; an optim wrapper's extra base group (MMEngine's ``base_param_settings``) takes the
    last, as MMEngine's ``ReduceOnPlateau`` does for ``min_value``."""
    groups = optimizer.param_groups
    if not isinstance(value, Sequence):
        return [float(value)] * len(groups)
    real = len(getattr(optimizer, "optimizer", optimizer).param_groups)
    if len(value) != real:
        raise ConfigError(f"expected one value per parameter group ({real}), got {len(value)}", key=key)
    return [float(v) for v in value] + [float(value[-1])] * (len(groups) - real)


def fixed_param(
    cls: type[ParamScheduler],
    param_name: str,
    name: str,
    mixin: type[Any] | None = None,
    module: str | None = None,
) -> type[ParamScheduler]:
    """A variant of a generic scheduler class with ``param_name`` fixed (``LinearLR`` from
    ``LinearParamScheduler``), whose signature omits ``param_name`` so config checks stay exact.

    Args:
        cls: the generic scheduler, whose ``__init__`` takes ``(optimizer, param_name, ...)``.
        param_name: the group key the variant schedules.
        name: the variant's class name.
        mixin: a class placed before ``cls`` in the variant's bases, whose ``__init__`` also takes
            ``(optimizer, param_name, ...)`` and passes them on with ``super().__init__``
            (``MomentumSchedulerMixin``, which handles Adam's ``betas``).
        module: the variant's ``__module__``; by default the caller's module, as ``namedtuple``.
    """
    bases = (cls,) if mixin is None else (mixin, cls)
    first = bases[0]

    def __init__(self: Any, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        first.__init__(self, optimizer, param_name, *args, **kwargs)

    signature = inspect.signature(cls.__init__)
    params = [p for p in signature.parameters.values() if p.name != "param_name"]
    __init__.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    # Resolved here, in ``cls``'s module: the variant's ``__init__`` lives in this one, where a
    # string annotation such as "Sequence[int]" would not evaluate and type checks would be lost.
    hints = typing.get_type_hints(cls.__init__)
    __init__.__annotations__ = {k: v for k, v in hints.items() if k != "param_name"}
    doc = f"{cls.__name__} with ``param_name = {param_name!r}``.\n\n{cls.__doc__ or ''}"
    module = module or sys._getframe(1).f_globals.get("__name__", cls.__module__)
    return type(name, bases, {"__init__": __init__, "__doc__": doc, "__module__": module})
