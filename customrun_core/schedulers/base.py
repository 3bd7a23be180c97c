"""The base of every parameter scheduler: a window ``[begin, end)`` of steps over param groups."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from customrun_core.errors import ConfigError

INF = 1_000_000_000  # an end that is never reached (MMEngine's INF)


class ParamScheduler:
    """Changes ``param_name`` in every parameter group of an optimizer (or optim wrapper).

    As MMEngine: each group records ``initial_<param_name>`` the first time any scheduler sees it;
    ``step()`` advances a global step counter and, inside ``begin <= step < end``, writes the value
    :meth:`get_value` computes from the current one (so overlapping schedulers compose
    multiplicatively); outside its window a scheduler writes nothing. The constructor takes the
    first step, so the value in effect during step ``k`` is the one written after ``k`` steps.

    Subclasses implement :meth:`get_value` and list in ``epoch_fields`` the arguments measured in
    steps that ``convert_to_iter_based`` multiplies by the epoch length.
    """

    epoch_fields: ClassVar[tuple[str, ...]] = ()

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
        if end <= begin:
            raise ConfigError(f"expected end > begin, got begin={begin}, end={end}", key="end")
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
            if name in kwargs:
                value = kwargs[name]
                out[name] = (
                    [int(v * epoch_length) for v in value]
                    if isinstance(value, list)
                    else int(value * epoch_length)
                )
        return out


def fixed_param(cls: type[ParamScheduler], param_name: str, name: str) -> type[ParamScheduler]:
    """A variant of a generic scheduler class with ``param_name`` fixed (``LinearLR`` from
    ``LinearParamScheduler``), whose signature omits ``param_name`` so config checks stay exact."""

    def __init__(self: Any, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        cls.__init__(self, optimizer, param_name, *args, **kwargs)

    signature = inspect.signature(cls.__init__)
    params = [p for p in signature.parameters.values() if p.name != "param_name"]
    __init__.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    __init__.__annotations__ = {k: v for k, v in cls.__init__.__annotations__.items() if k != "param_name"}
    doc = f"{cls.__name__} with ``param_name = {param_name!r}``.\n\n{cls.__doc__ or ''}"
    return type(name, (cls,), {"__init__": __init__, "__doc__": doc, "__module__": cls.__module__})
