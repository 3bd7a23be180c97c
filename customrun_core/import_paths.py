"""A component named by its import path in a config (``type = "my_project.hooks:MyHook"``): the
last way a ``type`` resolves (see :mod:`customrun_core.registry`), and the only one that imports
a module the config names, so what it may name is checked here."""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from customrun_core.errors import ComponentError, closest

# What a class named by an import path must be, per kind: a subclass of the base, or (no base)
# a class with all of the methods. Anything else (os.system, eval, subprocess.Popen) is refused:
# a config names components; it cannot call arbitrary code.
_IMPORT_PATH_CONTRACTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "loops": ("customrun_core.loops.base:BaseLoop", ()),
    "hooks": ("customrun_core.hooks.base:Hook", ()),
    "optimizers": ("torch.optim:Optimizer", ()),
    "optim_wrappers": ("customrun_core.optim.wrapper:OptimWrapper", ()),
    "optim_wrapper_constructors": (None, ("__call__",)),
    "param_schedulers": ("customrun_core.schedulers.base:ParamScheduler", ()),
    "models": ("torch.nn:Module", ()),
    "model_wrappers": ("torch.nn:Module", ()),
    "datasets": ("torch.utils.data:Dataset", ()),
    "metrics": (None, ("reset", "process", "compute")),
}


def _check_contract(kind: str, label: str, path: str, target: Any) -> Any:
    base_path, methods = _IMPORT_PATH_CONTRACTS[kind]
    if base_path is not None:
        module_name, _, name = base_path.partition(":")
        base = getattr(importlib.import_module(module_name), name)
        if inspect.isclass(target) and issubclass(target, base):
            return target
        expected = f"a subclass of {module_name}.{name}"
    else:
        if inspect.isclass(target) and all(callable(getattr(target, m, None)) for m in methods):
            return target
        expected = f"a class with {', '.join(methods)}"
    what = "a class" if inspect.isclass(target) else f"a {type(target).__name__}"
    raise ComponentError(
        f"{label} {path!r} is {what}, not {expected}: an import path must name a component class"
    )


def import_component(path: str, kind: str, label: str) -> Any:
    """The class that ``path`` (``package.module:Name`` or ``package.module.Name``) names, checked
    against the contract of ``kind`` (a registry kind, which error messages call ``label``).

    Raises:
        ComponentError: the module does not import, has no such attribute, or the attribute is
            not a component class of this kind.
    """
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ComponentError(f"{label} {path!r}: cannot import module {module_name!r} ({error})") from None
    try:
        target = functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        raise ComponentError(
            f"{label} {path!r}: module {module_name!r} has no attribute {attr!r}",
            suggestions=closest(attr, public),
        ) from None
    return _check_contract(kind, label, path, target)
