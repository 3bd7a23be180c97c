"""Several optimizers in one run (GANs): one OptimWrapper per submodule of the model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch import nn

from customrun_core.errors import ConfigError, closest
from customrun_core.models.wrappers import unwrap_model
from customrun_core.optim.constructor import build_optim_wrapper


class OptimWrapperDict(Mapping[str, Any]):
    """Optim wrappers by name, as MMEngine's class of that name.

    A model's ``train_step`` receives this and drives each member itself (``optim_wrapper["generator"]
    .update_params(loss)``); the calls that only make sense for one optimizer (``update_params``,
    ``backward``, ``step``, ``optim_context``) raise here. ``zero_grad`` zeroes all members.
    """

    def __init__(self, **optim_wrappers: Any) -> None:
        self.optim_wrappers = optim_wrappers

    def __getitem__(self, name: str) -> Any:
        return self.optim_wrappers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.optim_wrappers)

    def __len__(self) -> int:
        return len(self.optim_wrappers)

    def _one_only(self, what: str) -> None:
        raise NotImplementedError(
            f"OptimWrapperDict.{what}: call it on one member, e.g. optim_wrapper[{next(iter(self), 'name')!r}]"
        )

    def update_params(self, loss: Any, **kwargs: Any) -> None:
        self._one_only("update_params")

    def backward(self, loss: Any, **kwargs: Any) -> None:
        self._one_only("backward")

    def step(self, **kwargs: Any) -> None:
        self._one_only("step")

    def optim_context(self, model: Any) -> Any:
        self._one_only("optim_context")

    def zero_grad(self, **kwargs: Any) -> None:
        for wrapper in self.values():
            wrapper.zero_grad(**kwargs)

    def initialize_count_status(self, model: Any, init_counts: int, max_counts: int) -> None:
        # Unlike MMEngine (a no-op), every member learns the run's length, so accumulation in a
        # member divides the last window correctly.
        for wrapper in self.values():
            wrapper.initialize_count_status(model, init_counts, max_counts)

    @property
    def param_groups(self) -> dict[str, list[dict[str, Any]]]:
        return {name: wrapper.param_groups for name, wrapper in self.items()}

    def log_values(self) -> dict[str, Any]:
        return {f"{name}.{k}": v for name, wrapper in self.items() for k, v in wrapper.log_values().items()}

    def get_lr(self) -> dict[str, list[float]]:
        return {f"{name}.{k}": v for name, wrapper in self.items() for k, v in wrapper.get_lr().items()}

    def get_momentum(self) -> dict[str, list[float]]:
        return {f"{name}.{k}": v for name, wrapper in self.items() for k, v in wrapper.get_momentum().items()}

    def state_dict(self) -> dict[str, Any]:
        return {name: wrapper.state_dict() for name, wrapper in self.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name, state in state_dict.items():
            if name not in self.optim_wrappers:
                raise ConfigError(
                    f"the checkpoint has an optimizer {name!r} this run does not have",
                    key="optim_wrapper",
                    suggestions=closest(name, self.optim_wrappers),
                )
            self.optim_wrappers[name].load_state_dict(state)


def is_per_submodule(cfg: Mapping[str, Any]) -> bool:
    """Whether ``optim_wrapper`` names one wrapper per submodule (``[optim_wrapper.generator]``
    with its own ``optimizer``) instead of describing one wrapper."""
    return (
        bool(cfg)
        and "optimizer" not in cfg
        and "constructor" not in cfg
        and all(isinstance(v, dict) and "optimizer" in v for v in cfg.values())
    )


def build_optim_wrapper_dict(model: nn.Module, cfg: Mapping[str, Any]) -> OptimWrapperDict:
    """One wrapper per ``optim_wrapper.<name>`` table, over the parameters of ``model.<name>``."""
    model = unwrap_model(model)
    children = dict(model.named_children())
    members = {}
    for name, sub_cfg in cfg.items():
        if name not in children:
            raise ConfigError(
                f"the model has no submodule {name!r} to optimize (it has {', '.join(children) or 'none'})",
                key=name,
                suggestions=closest(name, children),
            )
        try:
            members[name] = build_optim_wrapper(children[name], sub_cfg)
        except ConfigError as error:
            raise error.located(key_prefix=name) from error
    return OptimWrapperDict(**members)


def schedulers_per_member(cfg: Any, names: list[str]) -> dict[str, Any]:
    """Each member's ``param_scheduler`` config: a table keyed by member names gives each its own
    (a table or an array), anything else applies to every member (MMEngine's rule)."""
    if isinstance(cfg, dict) and "type" not in cfg and cfg:
        unknown = [k for k in cfg if k not in names]
        if unknown:
            raise ConfigError(
                f"no optimizer named {unknown[0]!r} (there are {', '.join(names)})",
                key=f"param_scheduler.{unknown[0]}",
                suggestions=closest(unknown[0], names),
            )
        return {name: cfg.get(name) for name in names}
    return dict.fromkeys(names, cfg)
