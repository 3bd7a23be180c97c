"""customrun: train PyTorch models from a TOML file, extended through entry points and pluggy hooks.

The public names are imported lazily so that ``import customrun_core`` (and so ``customrun
--help``) does not import torch.
"""

from __future__ import annotations

import os
import sys

# ``python -m customrun_core`` (how torchrun starts customrun) has put the working directory first
# on sys.path, where a local json.py or torch.py would shadow the installed module. It goes, before
# anything else is imported: local modules are found after installed ones (import_paths), as
# under the ``customrun`` command. While ``-m`` imports this package, sys.argv[0] is "-m".
if sys.argv[:1] == ["-m"] and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

import importlib  # after the sys.path repair above, on purpose
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Hook": "customrun_core.hooks.base",
    "Priority": "customrun_core.hooks.base",
    "hookimpl": "customrun_core.hookspecs",
    "Runner": "customrun_core.runner",
    "RunnerView": "customrun_core.hooks.runner_view",
    "register": "customrun_core.registry",
    "is_model_wrapper": "customrun_core.models.wrappers",
    "unwrap_model": "customrun_core.models.wrappers",
    "BaseModel": "customrun_core.models.base",
    "errors": "customrun_core.errors",
}

__all__ = [
    "BaseModel",
    "Hook",
    "Priority",
    "Runner",
    "RunnerView",
    "__version__",
    "errors",
    "hookimpl",
    "is_model_wrapper",
    "register",
    "unwrap_model",
]

if TYPE_CHECKING:
    from customrun_core import errors
    from customrun_core.hooks.base import Hook, Priority
    from customrun_core.hooks.runner_view import RunnerView
    from customrun_core.hookspecs import hookimpl
    from customrun_core.models.base import BaseModel
    from customrun_core.models.wrappers import is_model_wrapper, unwrap_model
    from customrun_core.registry import register
    from customrun_core.runner import Runner


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'customrun_core' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "errors" else getattr(module, name)
    globals()[name] = value
    return value
