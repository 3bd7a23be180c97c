"""Components by name: one cached scan of entry points, resolved lazily.

A ``type`` string in a config resolves, in this order, to

1. a name registered in this process with :func:`register` (modules named in ``custom_imports``);
2. the entry point of that name in the kind's group (``customrun.<kind>``), imported only now;
3. for optimizers, the ``torch.optim`` class of that name;
4. an import path ``package.module:Name`` (or ``package.module.Name``): installed modules first,
   then modules beside the config file, then in the working directory
   (:mod:`customrun_core.import_paths`).

Two distributions publishing one name in one kind is an error that says how to pick one:
``type = "customrun-lars:LARS"``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import importlib_metadata

from customrun_core.errors import ComponentError, closest
from customrun_core.import_paths import import_component
from customrun_core.plugin_hints import FIRST_PARTY, unknown
from customrun_core.plugin_policy import (
    PluginPolicy,
    distribution_tops,
    incompatibility,
    module_owners,
    normalize_name,
)

__all__ = [
    "FIRST_PARTY",
    "GROUP_PREFIX",
    "KINDS",
    "ComponentEntry",
    "Snapshot",
    "activate_policy",
    "entries_for",
    "known_names",
    "loaded_distributions",
    "model_wrapper_classes",
    "normalize_dist",
    "policy",
    "refresh",
    "register",
    "register_model_wrapper",
    "resolve",
    "scan_entry_points",
    "set_policy",
    "snapshot",
]

T = TypeVar("T")

GROUP_PREFIX = "customrun."

# kind -> how error messages name one of them
KINDS: dict[str, str] = {
    "loops": "loop",
    "hooks": "hook",
    "optimizers": "optimizer",
    "optim_wrappers": "optim wrapper",
    "optim_wrapper_constructors": "optim wrapper constructor",
    "param_schedulers": "parameter scheduler",
    "models": "model",
    "model_wrappers": "model wrapper",
    "datasets": "dataset",
    "metrics": "metric",
}


@attrs.frozen
class ComponentEntry:
    """One entry point of a ``customrun.*`` group, read from metadata without importing it."""

    kind: str
    name: str
    value: str
    dist: str
    entry_point: Any = attrs.field(eq=False, repr=False)

    @property
    def version(self) -> str:
        dist = self.entry_point.dist
        return dist.version if dist is not None else "?"

    def load(self) -> Any:
        """Import the entry point's object (and remember that this distribution's code ran)."""
        component = self.entry_point.load()
        _loaded.add(normalize_dist(self.dist))
        return component


normalize_dist = normalize_name  # PEP 503: one name per distribution


@functools.cache
def scan_entry_points() -> dict[str, dict[str, tuple[ComponentEntry, ...]]]:
    """Every ``customrun.<kind>`` entry point by kind and name (read once per process)."""
    table: dict[str, dict[str, list[ComponentEntry]]] = {kind: {} for kind in KINDS}
    table["plugins"] = {}
    # Absolute paths: '' on sys.path (the working directory, under ``python -m``) would give
    # distributions whose metadata stops resolving after a chdir. The first of a name wins.
    paths = [os.path.abspath(entry) for entry in sys.path]
    eps = (ep for dist in importlib_metadata.distributions(path=paths) for ep in dist.entry_points)
    for ep in eps:
        if not ep.group.startswith(GROUP_PREFIX):
            continue
        kind = ep.group[len(GROUP_PREFIX) :]
        dist = ep.dist.name if ep.dist is not None else "?"
        entries = table.setdefault(kind, {}).setdefault(ep.name, [])
        if all(normalize_dist(e.dist) != normalize_dist(dist) for e in entries):
            entries.append(ComponentEntry(kind, ep.name, ep.value, dist, ep))
    return {kind: {name: tuple(v) for name, v in names.items()} for kind, names in table.items()}


def refresh() -> None:
    """Forget the entry-point scan and the plugin policy (after installing a distribution in the
    running process, or changing the environment)."""
    scan_entry_points.cache_clear()
    _policy.clear()
    _loaded.clear()
    incompatibility.cache_clear()
    module_owners.cache_clear()
    distribution_tops.cache_clear()


_loaded: set[str] = set()  # distributions whose entry points this process imported


def loaded_distributions() -> frozenset[str]:
    """Normalised names of the distributions whose entry points this process has loaded."""
    return frozenset(_loaded)


_registered: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
_model_wrapper_classes: list[type] = []
_policy: dict[str, PluginPolicy] = {}  # the policy in force, once set


def set_policy(policy: PluginPolicy) -> None:
    """Make ``policy`` decide which distributions' components may be used in this process: the one
    way a policy is put in force (:func:`activate_policy` for a config, or the command line's
    plugin switches alone)."""
    _policy["current"] = policy


def policy() -> PluginPolicy:
    """The plugin policy in force (the environment's alone until one is set)."""
    if "current" not in _policy:
        set_policy(PluginPolicy.collect())
    return _policy["current"]


def activate_policy(plugins_cfg: Any, switches: Mapping[str, Any] | None = None) -> PluginPolicy:
    """Put in force the policy of a config's ``[plugins]`` table and the command line's
    ``switches`` (keyword arguments of :meth:`PluginPolicy.collect`), then check the config's
    requirements.

    Raises:
        PluginError: a requirement of ``[plugins] require`` is not met.
    """
    chosen = PluginPolicy.collect(
        **(switches or {}),
        config_enable=plugins_cfg.enable,
        config_disable=plugins_cfg.disable,
        config_require=plugins_cfg.require,
    )
    set_policy(chosen)
    chosen.check_required()
    return chosen


def register(kind: str, name: str | None = None, *, force: bool = False) -> Callable[[T], T]:
    """Class decorator: make a component available by name in this process.

    For modules listed in a config's ``custom_imports``; installed distributions use entry points.

    ::

        @register("hooks")
        class NewHook(Hook): ...
    """
    if kind not in KINDS:
        raise ComponentError(f"unknown component kind {kind!r}", suggestions=closest(kind, KINDS))

    def decorator(obj: T) -> T:
        key = name or obj.__name__  # type: ignore[attr-defined]
        known = _registered[kind].get(key)
        same_definition = known is not None and (known.__module__, known.__qualname__) == (
            obj.__module__,
            obj.__qualname__,  # type: ignore[attr-defined]
        )
        if known is not None and known is not obj and not force and not same_definition:
            raise ComponentError(
                f"{KINDS[kind]} {key!r} is already registered by {known.__module__}; "
                f"pass force=True to replace it"
            )
        _registered[kind][key] = obj
        return obj

    return decorator


def register_model_wrapper(cls: type[T]) -> type[T]:
    """Class decorator: treat instances of ``cls``, which hold the real model as ``.module``, as
    model wrappers (:func:`customrun_core.is_model_wrapper`, :func:`customrun_core.unwrap_model`),
    as DataParallel and DistributedDataParallel are."""
    _model_wrapper_classes.append(cls)
    return cls


def model_wrapper_classes() -> tuple[type, ...]:
    """The classes :func:`register_model_wrapper` recorded in this process, oldest first."""
    return tuple(_model_wrapper_classes)


@attrs.frozen
class Snapshot:
    """What this process had registered when :func:`snapshot` was taken.

    Attributes:
        components: kind -> name -> component, as :func:`register` recorded them.
        model_wrappers: the classes :func:`register_model_wrapper` recorded, oldest first.
    """

    components: dict[str, dict[str, Any]]
    model_wrappers: tuple[type, ...]

    def restore(self) -> None:
        """Make the registrations what they were: names and wrapper classes registered since are
        dropped, and a name registered again with ``force=True`` gets its old component back."""
        for kind, names in self.components.items():
            _registered[kind].clear()
            _registered[kind].update(names)
        _model_wrapper_classes[:] = self.model_wrappers


def snapshot() -> Snapshot:
    """What :func:`register` and :func:`register_model_wrapper` have recorded so far, to be put
    back with :meth:`Snapshot.restore` (the testing plugin keeps tests apart this way)::

        saved = registry.snapshot()
        try:
            importlib.import_module("my_components")  # registers with @register
            ...
        finally:
            saved.restore()
    """
    return Snapshot({kind: dict(names) for kind, names in _registered.items()}, model_wrapper_classes())


def known_names(kind: str) -> list[str]:
    """Every name a ``type`` of this kind can take without an import path."""
    names = set(_registered[kind]) | set(scan_entry_points().get(kind, {}))
    if kind == "optimizers":
        names |= set(_torch_optimizers())
    return sorted(names)


def resolve(kind: str, type_name: Any) -> Any:
    """The class (or factory) that ``type = type_name`` names in a config section of ``kind``.

    Raises:
        ComponentError: unknown name, ambiguous name, or an entry point that fails to import.
    """
    if not isinstance(type_name, str):
        if callable(type_name):
            return type_name
        raise ComponentError(f"expected a {KINDS[kind]} name (string), got {type(type_name).__name__}")
    if type_name in _registered[kind]:
        return _registered[kind][type_name]
    found = _from_entry_points(kind, type_name)
    if found is not None:
        return found
    if kind == "optimizers" and type_name in _torch_optimizers():
        import torch.optim

        return getattr(torch.optim, type_name)
    if ":" in type_name or "." in type_name:
        return import_component(type_name, kind, KINDS[kind])
    raise _unknown(kind, type_name)


def entries_for(kind: str, type_name: str) -> tuple[ComponentEntry, ...]:
    """The entry points ``type = type_name`` (``Name`` or ``dist:Name``) can mean in ``kind``:
    read from metadata only, nothing imported."""
    names = scan_entry_points().get(kind, {})
    entries = names.get(type_name, ())
    dist_hint, _, short = type_name.rpartition(":")
    if not entries and dist_hint and short in names:
        entries = tuple(e for e in names[short] if normalize_dist(e.dist) == normalize_dist(dist_hint))
    return entries


def _from_entry_points(kind: str, type_name: str) -> Any:
    entries = entries_for(kind, type_name)
    if not entries:
        return None
    refused = {e.dist: why for e in entries if (why := policy().refusal(e.dist, e.name))}
    if len(refused) == len(entries):
        dist, why = next(iter(refused.items()))
        how = "see customrun plugins" if why.startswith("incompatible") else f"enable it with --plugin {dist}"
        raise ComponentError(f"{KINDS[kind]} {type_name!r} is provided by {dist}, which is {why}; {how}")
    entries = tuple(e for e in entries if e.dist not in refused)
    if len(entries) > 1:
        dists = " and ".join(f"{e.dist} {e.version} ({e.value})" for e in entries)
        picks = " or ".join(f'type = "{e.dist}:{type_name}"' for e in entries)
        raise ComponentError(f"{KINDS[kind]} {type_name!r} is provided by {dists}; pick one with {picks}")
    entry = entries[0]
    try:
        return entry.load()
    except BaseException as error:  # a broken plugin: whatever its import raises, SystemExit too
        raise ComponentError(
            f"{KINDS[kind]} {entry.name!r} from {entry.dist} {entry.version} "
            f"(entry point {entry.value}) failed to import: {type(error).__name__}: {error}"
        ) from error


def _unknown(kind: str, type_name: str) -> ComponentError:
    return unknown(kind, KINDS[kind], f"{GROUP_PREFIX}{kind}", type_name, known_names(kind))


@functools.cache
def _torch_optimizers() -> frozenset[str]:
    import torch.optim

    return frozenset(
        name
        for name, obj in vars(torch.optim).items()
        if isinstance(obj, type)
        and issubclass(obj, torch.optim.Optimizer)
        and obj is not torch.optim.Optimizer
    )
