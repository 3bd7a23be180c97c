"""A component named by its import path in a config (``type = "my_project.hooks:MyHook"``): the
last way a ``type`` resolves (see :mod:`customrun_core.registry`), and the only one that imports
a module the config names, so what it may name is checked here.

Where a module is found (the trust model): installed packages and ``PYTHONPATH`` first, then the
config file's directory, then the working directory. The two local directories are searched only
when the normal import finds no top-level module of that name, so a local ``json.py`` or
``torch.py`` never shadows an installed module; they never go in front of it on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from customrun_core.errors import ComponentError, closest, first_line
from customrun_core.plugin_modules import policy_refusal, refused_entry

# What a class named by an import path must be, per kind: a subclass of the base, or (no base)
# a class with all of the methods. Anything else (os.system, eval, subprocess.Popen) is refused:
# a config names components; it cannot call arbitrary code.
_IMPORT_PATH_CONTRACTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "loops": ("customrun_core.loops.base:BaseLoop", ()),
    "hooks": ("customrun_core.hooks.base:Hook", ()),
    "optimizers": ("torch.optim:Optimizer", ()),
    "optim_wrappers": ("customrun_core.optim.wrapper:OptimWrapper", ()),
    # Or MMEngine's protocol: see _is_constructor.
    "optim_wrapper_constructors": ("customrun_core.optim.constructor:DefaultOptimWrapperConstructor", ()),
    "param_schedulers": ("customrun_core.schedulers.base:ParamScheduler", ()),
    "models": ("torch.nn:Module", ()),
    "model_wrappers": ("torch.nn:Module", ()),
    "datasets": ("torch.utils.data:Dataset", ()),
    # A torchmetrics Metric or MetricCollection class is a metric too: see _check_contract.
    "metrics": (None, ("reset", "process", "compute")),
    # Not a registry kind: a dataloader's ``sampler`` table names its class by import path only.
    "samplers": ("torch.utils.data:Sampler", ()),
}


# Packages whose model-building functions a ``model`` (or nested) table may name: their functions
# are documented to return an ``nn.Module`` (``torchvision.models:resnet18``, ``timm:create_model``).
MODEL_FACTORY_PACKAGES: tuple[str, ...] = ("torchvision.models", "timm")


def _model_factory(target: Any) -> Any:
    """``target`` as a checked model factory when it is a function of MODEL_FACTORY_PACKAGES, else None."""
    module = getattr(target, "__module__", None) or ""
    if not inspect.isfunction(target) or not any(
        module == package or module.startswith(package + ".") for package in MODEL_FACTORY_PACKAGES
    ):
        return None
    from torch import nn

    @functools.wraps(target)
    def factory(*args: Any, **kwargs: Any) -> Any:
        model = target(*args, **kwargs)
        if not isinstance(model, nn.Module):
            raise ComponentError(
                f"{module}.{target.__name__} returned a {type(model).__name__}, not an nn.Module"
            )
        return model

    return factory


def _check_contract(kind: str, label: str, path: str, target: Any) -> Any:
    if kind == "models" and (factory := _model_factory(target)) is not None:
        return factory
    if kind == "optim_wrapper_constructors" and _is_constructor(target):
        return target
    if kind == "metrics":  # a torchmetrics class resolves to the factory of its adapter
        from customrun_core.metrics.torchmetrics_adapter import is_torchmetrics, metric_factory

        if inspect.isclass(target) and is_torchmetrics(target):
            return metric_factory(target)
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
    return _check_contract(kind, label, path, _import_attribute(path, label))


def import_nested(path: str, label: str) -> Any:
    """The class that a nested table's ``path`` names (see :mod:`customrun_core.build`): a model,
    a dataset, a sampler, or a transform, which is a class whose instances are called
    (``torchvision.transforms:Compose``, ``ToTensor``) defined outside the standard library.

    Raises:
        ComponentError: the module does not import, has no such attribute, or the attribute is none
            of these.
    """
    target = _import_attribute(path, label)
    for kind in ("models", "datasets", "samplers"):
        with contextlib.suppress(ComponentError):
            return _check_contract(kind, label, path, target)
    if (
        inspect.isclass(target)
        and _outside_stdlib(target)
        and any("__call__" in vars(c) for c in target.__mro__[:-1])
    ):
        return target
    what = "a class" if inspect.isclass(target) else f"a {type(target).__name__}"
    raise ComponentError(
        f"{label} {path!r} is {what}, not a model (torch.nn.Module), a dataset, a sampler or a transform "
        "(a class with __call__, outside the standard library): an import path must name a component class"
    )


def _is_constructor(target: Any) -> bool:
    """MMEngine's constructor protocol: a class outside the standard library whose ``__init__``
    takes ``optim_wrapper_cfg`` and that defines ``__call__(model)`` itself (every class is
    callable, so ``callable`` alone would accept ``unittest.mock:MagicMock``)."""
    if not inspect.isclass(target) or not _outside_stdlib(target):
        return False
    if not any("__call__" in vars(c) for c in target.__mro__[:-1]):
        return False
    try:
        return "optim_wrapper_cfg" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def _outside_stdlib(target: Any) -> bool:
    top = (getattr(target, "__module__", None) or "builtins").partition(".")[0]
    return top != "builtins" and top not in sys.stdlib_module_names


def _import_attribute(path: str, label: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    top = module_name.partition(".")[0]
    if top == "builtins" or top in sys.stdlib_module_names:  # refused before its code can run
        raise ComponentError(
            f"{label} {path!r} names the standard library module {top!r}, which provides no components:"
            f" an import path never imports it (a file of yours named {top}.py is shadowed by it: rename it)"
        )
    module = import_module(module_name, f"{label} {path!r}")
    try:
        target = functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        raise ComponentError(
            f"{label} {path!r}: module {module_name!r} has no attribute {attr!r}",
            suggestions=closest(attr, public),
        ) from None
    if (entry_refused := refused_entry(target)) is not None:  # --disable-plugin NAME, by path
        entry, why = entry_refused
        raise ComponentError(
            f"{label} {path!r} is entry point {entry.name} of {entry.dist}, which is {why}; "
            f"enable it with --plugin {entry.name}"
        )
    return target


def import_function(path: str, label: str) -> Any:
    """The function that ``path`` names, for the one place a config may name a function rather than
    a component class: a dataloader's ``collate_fn``.

    Only a plain Python function defined in a module outside the standard library is accepted, so
    that a config cannot name ``os.system``, ``eval`` or ``subprocess.call``.

    Raises:
        ComponentError: the module does not import, has no such attribute, or the attribute is a
            builtin, a class or a function of the standard library.
    """
    target = _import_attribute(path, label)
    module = getattr(target, "__module__", None) or "builtins"
    if not inspect.isfunction(target) or not _outside_stdlib(target):
        where = (
            f"from the standard library ({module})"
            if module.partition(".")[0] in sys.stdlib_module_names
            else ""
        )
        what = "a function " + where if inspect.isfunction(target) else f"a {type(target).__name__}"
        raise ComponentError(
            f"{label} {path!r} is {what.strip()}, not a function defined in your code or an installed "
            "package: an import path here must name a plain Python function (def), never a builtin"
        )
    return target


# -- local modules ---------------------------------------------------------------------------------
_config_file: dict[str, str] = {"current": "<config>"}  # set by use_config for the run being prepared


def use_config(source: str) -> None:
    """Search ``source``'s directory (a config file's path; ``"<config>"`` for a config given as a
    dict, which adds none) for modules that no installed package provides, from now on."""
    _config_file["current"] = str(Path(source).resolve()) if Path(source).is_file() else "<config>"


def search_dirs(config_file: str | None = None) -> list[str]:
    """The directories searched, in order, for a module no installed package provides: the
    directory of ``config_file`` (by default the one :func:`use_config` set), then the working
    directory."""
    file = _config_file["current"] if config_file is None else config_file
    dirs = [str(Path(file).resolve().parent)] if Path(file).is_file() else []
    cwd = os.getcwd()
    return dirs if cwd in dirs else [*dirs, cwd]


class _LocalFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in ``dirs``; last on ``sys.meta_path``, so after every installed one."""

    def __init__(self, dirs: Sequence[str]) -> None:
        self.dirs = list(dirs)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None:  # a submodule: its package's __path__ already says where it lives
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, self.dirs)


@contextlib.contextmanager
def local_modules(dirs: Sequence[str]) -> Iterator[None]:
    """While inside, modules not installed are also found in ``dirs`` (searched after
    everything on ``sys.path``), so a local module's own imports of its neighbours work too."""
    finder = _LocalFinder(dirs)
    sys.meta_path.append(finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


# Modules that an extra of customrun-core installs (``pip install 'customrun-core[metrics]'``).
_EXTRAS = {"torchmetrics": "metrics"}


def import_module(module_name: str, label: str) -> ModuleType:
    """:func:`load_module` for a config's import path, its failure as one line led by ``label``.

    Raises:
        ComponentError: naming the module and the first line of what its import raised; for a
            module found nowhere, the directories searched and how to make it importable.
    """
    if (refused := policy_refusal(module_name)) is not None:
        raise ComponentError(f"{label}: {refused}")
    try:
        return load_module(module_name)
    except BaseException as error:  # whatever the module raised while importing, SystemExit too
        missing = error.name if isinstance(error, ModuleNotFoundError) else None
        if missing in _EXTRAS:  # an optional dependency of customrun-core: say which extra has it
            extra = _EXTRAS[missing]
            raise ComponentError(
                f"{label}: {missing} is not installed: pip install 'customrun-core[{extra}]'"
            ) from None
        raise ComponentError(f"{label}: cannot import module {module_name!r} ({first_line(error)})") from None


def load_module(module_name: str, config_file: str | None = None) -> ModuleType:
    """``importlib.import_module(module_name)``; when no installed package provides its top-level
    module, from the directories of :func:`search_dirs` instead (registered in ``sys.modules`` as
    an ordinary import would).

    Raises:
        ModuleNotFoundError: the top-level module is nowhere; its message lists the directories
            searched and the ways to make the module importable.
        Exception: whatever else importing the module raised.
    """
    if (refused := policy_refusal(module_name)) is not None:  # custom_imports names one
        raise ComponentError(refused)
    top = module_name.partition(".")[0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != top:  # the module exists, something it imports does not
            raise
    dirs = search_dirs(config_file)
    importlib.invalidate_caches()  # a module written since the last import (generated, or a test's)
    try:
        with local_modules(dirs):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == top:
            raise ModuleNotFoundError(not_found(top, dirs), name=top) from None
        raise
    _remember(sys.modules[top])
    return module


def _remember(module: ModuleType) -> None:
    """Put the directory a local module came from at the end of ``sys.path``: still after every
    installed package, and what DataLoader workers started by ``spawn`` (macOS, Windows) inherit
    to import it again when they unpickle the dataset."""
    origin = getattr(module, "__file__", None)
    if origin is None:
        return
    path = Path(origin).parent
    place = str(path.parent if path.name == module.__name__ else path)  # a package: its parent
    if place not in sys.path:
        sys.path.append(place)


def not_found(top: str, dirs: Sequence[str]) -> str:
    """Why ``top`` did not import and the ways to make it importable, in one line."""
    # The working directory is always last; the config's directory, when searched, comes first.
    names = ["the config's directory", "the working directory"][-len(dirs) :]
    places = " or ".join(f"{d} ({n})" for d, n in zip(dirs, names, strict=True))
    return (
        f"no module named {top!r}: it is not installed, and there is no {top}.py or {top}/ in {places}; "
        f"put it beside the config or in the working directory, install it (or add its directory to "
        f"PYTHONPATH), or list it in custom_imports"
    )
