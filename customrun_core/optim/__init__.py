"""Optimizer wrappers and the constructor that builds them from ``optim_wrapper``.

What a plugin's constructor or wrapper builds on: :class:`OptimWrapper` (subclass it),
:class:`OptimWrapperDict` (what ``train_step`` receives with one optimizer per submodule),
:class:`DefaultOptimWrapperConstructor` (subclass it and override ``param_groups``),
:func:`build_param_groups` with its result :class:`ParamGroups` (the ``paramwise_cfg`` rules, or
only ``custom_keys`` matching when given only those keys), :func:`match_custom_key` and
:func:`sort_custom_keys` (which custom key a parameter takes) and :func:`custom_key_path` (the key
path an error about a custom key names).
"""

from customrun_core.optim.constructor import DefaultOptimWrapperConstructor, build_optim_wrapper
from customrun_core.optim.paramwise import (
    ParamGroups,
    build_param_groups,
    custom_key_path,
    match_custom_key,
    sort_custom_keys,
)
from customrun_core.optim.wrapper import OptimWrapper
from customrun_core.optim.wrapper_dict import OptimWrapperDict

__all__ = [
    "DefaultOptimWrapperConstructor",
    "OptimWrapper",
    "OptimWrapperDict",
    "ParamGroups",
    "build_optim_wrapper",
    "build_param_groups",
    "custom_key_path",
    "match_custom_key",
    "sort_custom_keys",
]
