"""From an MMEngine config's values to customrun's config, reporting what has no twin.

Keys customrun has keep their MMEngine names; tuples are arrays already (the evaluator made
them lists). What cannot be translated is reported with its key path and left out, never
guessed: an untranslatable value, a key customrun lacks, a ``type`` it cannot resolve (the
table holding it goes). ``None`` is TOML's absent key: dropped silently where customrun's own
default is "nothing" (``clip_grad = None``), reported inside a component's arguments (where the
component's default, which may differ, applies). A few MMEngine settings move: ``env_cfg``'s
``cudnn_benchmark`` and ``dist_cfg`` are top-level keys in customrun, ``launcher = 'pytorch'``
is ``"torchrun"``, a ``default_hooks`` entry ``None`` is ``false``, and a dataloader's
``sampler = dict(type='DefaultSampler', shuffle=...)`` is its ``shuffle``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from customrun_core import registry
from customrun_core.config.schema import DistConfig, Randomness, RunConfig
from customrun_core.convert.components import ComponentNames
from customrun_core.convert.evaluate import Untranslatable
from customrun_core.convert.inherit import PythonConfig
from customrun_core.convert.report import Report
from customrun_core.datasets.loader import DataLoaderConfig
from customrun_core.errors import closest, did_you_mean

DROP: Any = object()  # a value left out

RUN_KEYS = [f.name for f in attrs.fields(RunConfig) if f.metadata.get("config", True)]
# MMEngine's collate_fn and sampler are registry tables (type='pseudo_collate'), customrun's import
# paths: no value carries over (the sampler's shuffle does, below).
DATALOADER_KEYS = [f.name for f in attrs.fields(DataLoaderConfig) if f.name not in ("collate_fn", "sampler")]
RANDOMNESS_KEYS = tuple(f.name for f in attrs.fields(Randomness))
DIST_CFG_KEYS = tuple(f.name for f in attrs.fields(DistConfig))
# MMEngine's top-level keys that customrun has no twin for, with what to do instead.
NO_TWIN = {
    "visualizer": "",
    "vis_backends": "",
    "log_processor": "",
    "log_level": "",
    "default_scope": " (customrun has no registry scopes)",
    "auto_scale_lr": " (scale optim_wrapper.optimizer.lr by hand)",
    "optimizer": " at the top level (customrun reads it inside optim_wrapper)",
    "experiment_name": "",
}
_LAUNCHERS = {"none": "none", "pytorch": "torchrun"}


class Translator:
    """Translates one :class:`PythonConfig`; :meth:`run` gives the TOML-ready dict, and
    ``reports`` what was left out or kept with a caveat."""

    def __init__(self, config: PythonConfig, names: ComponentNames) -> None:
        self.config = config
        self.names = names
        self.reports: list[Report] = []
        self.out: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        handlers: dict[str, Callable[[Any, str], Any]] = {
            "model": self.model,
            "optim_wrapper": self.optim_wrapper,
            "param_scheduler": lambda v, k: self.components(v, k, "param_schedulers"),
            "custom_hooks": lambda v, k: self.components(v, k, "hooks", single=False),
            "val_evaluator": lambda v, k: self.components(v, k, "metrics"),
            "test_evaluator": lambda v, k: self.components(v, k, "metrics"),
            "default_hooks": self.default_hooks,
            "model_wrapper_cfg": lambda v, k: self.component(v, k, "model_wrappers", required=False),
            "randomness": lambda v, k: self.table(v, k, RANDOMNESS_KEYS),
            "env_cfg": self.env_cfg,
            "launcher": self.launcher,
            "custom_imports": self.custom_imports,
        }
        for key in ("train_cfg", "val_cfg", "test_cfg"):
            handlers[key] = lambda v, k: self.component(v, k, "loops", required=False)
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            handlers[key] = self.dataloader
        for key, value in self.config.values.items():
            if key in handlers:
                self.put(self.out, key, handlers[key](value, key))
            elif key in RUN_KEYS:
                self.put(self.out, key, self.clean(value, key))
            elif not self._helper(key):
                self.unknown_key(key, value)
        if self.names.own_kept:  # said once, for every table kept on the strength of those modules
            modules = ", ".join(repr(m) for m in self.names.unread)
            self.report(
                "custom_imports",
                f"{modules} not found where convert runs: the types no other place provides are kept"
                f" as your own ({', '.join(self.names.own_kept)}); they must be importable when training",
            )
        return self.out

    # -- bookkeeping -----------------------------------------------------------------------------

    @staticmethod
    def put(out: dict[str, Any], name: str, value: Any) -> None:
        """``out[name] = value``, unless ``value`` was left out."""
        if value is not DROP:
            out[name] = value

    def report(self, key: str, message: str, value: Any = None) -> None:
        if isinstance(value, Untranslatable):
            file, line = value.file, value.line
        else:
            top = re.split(r"[.\[]", key, maxsplit=1)[0]
            file, line = self.config.origins.get(top, (self.config.file, 0))
        self.reports.append(Report(file, line, key, message))

    def _helper(self, key: str) -> bool:
        """A name other statements read, or a private one: a variable, not a config key."""
        return key in self.config.helpers or key.startswith("_")

    def unknown_key(self, key: str, value: Any) -> None:
        if key in NO_TWIN:
            self.report(key, f"no customrun twin{NO_TWIN[key]}, left out", value)
            return
        self.report(key, f"not a customrun key, left out{did_you_mean(closest(key, RUN_KEYS))}", value)

    # -- values ----------------------------------------------------------------------------------

    def clean(self, value: Any, key: str, arguments: bool = False) -> Any:
        """``value`` ready for TOML: untranslatable parts reported and left out; ``None`` left
        out (reported when ``arguments``: a component's keyword arguments)."""
        if isinstance(value, Untranslatable):
            self.report(key, f"{value.reason}, left out", value)
            return DROP
        if value is None:
            if arguments:
                self.report(key, "None left out (TOML has no null): the component's default applies")
            return DROP
        if isinstance(value, dict):
            cleaned = {k: self.clean(v, f"{key}.{k}", arguments) for k, v in value.items()}
            return {k: v for k, v in cleaned.items() if v is not DROP}
        if isinstance(value, list):
            return self.array(value, key, arguments)
        return value

    def array(self, items: list[Any], key: str, arguments: bool) -> Any:
        out = []
        for index, item in enumerate(items):
            if item is None:  # leaving one out would shift the others
                self.report(f"{key}[{index}]", "None in an array (TOML has no null): the array is left out")
                return DROP
            cleaned = self.clean(item, f"{key}[{index}]", arguments)
            if cleaned is DROP:
                self.report(key, "an item cannot be translated: the array is left out")
                return DROP
            out.append(cleaned)
        return out

    def table(self, value: Any, key: str, keys: tuple[str, ...]) -> Any:
        """A customrun table with exactly ``keys``; others reported and left out."""
        if not isinstance(value, dict):
            return self.clean(value, key)
        for name in value:
            if name not in keys:
                self.report(f"{key}.{name}", "no customrun twin, left out", value[name])
        return self.clean({k: v for k, v in value.items() if k in keys}, key)

    # -- components ------------------------------------------------------------------------------

    def component(
        self, value: Any, key: str, kind: str, required: bool = True, outcome: str = "", own: bool = True
    ) -> Any:
        """A table naming a component of ``kind`` by ``type``: left out (reported) when customrun
        cannot resolve the type; ``required=False`` allows a table without ``type``; ``own``: the
        type may be the user's own (see :meth:`ComponentNames.check`)."""
        if not isinstance(value, dict) or ("type" not in value and not required):
            return self.clean(value, key)
        name = self.resolved(value.get("type"), f"{key}.type", kind, outcome or f"{key} is left out", own)
        return DROP if name is DROP else {**self.clean(value, key, arguments=True), "type": name}

    def resolved(self, name: Any, key: str, kind: str, outcome: str, own: bool = True) -> Any:
        """The name customrun resolves for ``name`` (a ``type`` or ``constructor``), or ``DROP``
        after reporting why it cannot; ``outcome`` says what is left out then."""
        if isinstance(name, Untranslatable):
            self.report(key, f"{name.reason}: a type must be a name (string); {outcome}", name)
            return DROP
        if not isinstance(name, str):
            self.report(key, f"expected a {registry.KINDS[kind]} name, got {name!r}; {outcome}")
            return DROP
        verdict = self.names.check(kind, name, key.removesuffix(".type"), own)
        if verdict.message:
            self.report(key, verdict.message if verdict.keep else f"{verdict.message}; {outcome}")
        return verdict.name if verdict.keep else DROP

    def components(self, value: Any, key: str, kind: str, single: bool = True) -> Any:
        """A table or (``single=False``: only) an array of component tables; each unknown one is
        left out of the array."""
        if isinstance(value, dict) and single:
            return self.component(value, key, kind)
        if not isinstance(value, list):
            return self.clean(value, key)
        built = [
            self.component(item, f"{key}[{i}]", kind, outcome="it is left out")
            for i, item in enumerate(value)
        ]
        return [item for item in built if item is not DROP]

    def model(self, value: Any, key: str) -> Any:
        out = self.component(value, key, "models")
        backbone = out.get("backbone") if isinstance(out, dict) else None
        if isinstance(backbone, dict) and "type" in backbone:
            name = self.resolved(backbone["type"], f"{key}.backbone.type", "models", f"{key} is left out")
            return DROP if name is DROP else {**out, "backbone": {**backbone, "type": name}}
        return out

    def optim_wrapper(self, value: Any, key: str) -> Any:
        if not isinstance(value, dict):
            return self.clean(value, key)
        if value.get("clip_grad", 0) is None:  # customrun's own key: None is its default, no clipping
            value = {k: v for k, v in value.items() if k != "clip_grad"}
        out = self.component(value, key, "optim_wrappers", required=False)
        if out is not DROP and "constructor" in value:
            kind = "optim_wrapper_constructors"
            name = self.resolved(value["constructor"], f"{key}.constructor", kind, f"{key} is left out")
            out = DROP if name is DROP else {**out, "constructor": name}
        if out is DROP or "optimizer" not in value:
            return out
        optimizer = self.component(
            value["optimizer"], f"{key}.optimizer", "optimizers", outcome=f"{key} is left out"
        )
        return DROP if optimizer is DROP else {**out, "optimizer": optimizer}

    def default_hooks(self, value: Any, key: str) -> Any:
        if not isinstance(value, dict):
            return self.clean(value, key)
        out: dict[str, Any] = {}
        for name, hook in value.items():
            if hook is None:  # MMEngine's None removes a default hook; customrun's false does
                out[name] = False
            elif isinstance(hook, dict) and "type" in hook:  # MMEngine's own hooks, not the user's
                self.put(out, name, self.component(hook, f"{key}.{name}", "hooks", own=False))
            else:
                self.put(out, name, self.clean(hook, f"{key}.{name}", arguments=True))
        return out

    def dataloader(self, value: Any, key: str) -> Any:
        if not isinstance(value, dict):
            return self.clean(value, key)
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name == "sampler":
                self.put(out, "shuffle", self.sampler(item, f"{key}.sampler"))
            elif name == "dataset":
                dataset = self.component(item, f"{key}.dataset", "datasets")
                if dataset is DROP:
                    return DROP
                out["dataset"] = dataset
            elif name in DATALOADER_KEYS:
                self.put(out, name, self.clean(item, f"{key}.{name}"))
            else:
                self.report(f"{key}.{name}", "not a customrun dataloader key, left out", item)
        return out

    def sampler(self, value: Any, key: str) -> Any:
        """MMEngine's ``DefaultSampler`` (seed + epoch shuffling) is what customrun's ``shuffle`` does."""
        if not isinstance(value, dict) or value.get("type") != "DefaultSampler":
            shown = value.get("type") if isinstance(value, dict) else value
            self.report(key, f"the sampler {shown!r} has no customrun twin, left out", value)
            return DROP
        for name in value:
            if name not in ("type", "shuffle"):
                self.report(f"{key}.{name}", "no customrun twin, left out")
        return self.clean(value.get("shuffle", True), f"{key}.shuffle")

    def env_cfg(self, value: Any, key: str) -> Any:
        if not isinstance(value, dict):
            return self.clean(value, key)
        for name, item in value.items():
            if name == "cudnn_benchmark":
                self.put(self.out, "cudnn_benchmark", self.clean(item, f"{key}.{name}"))
            elif name == "dist_cfg":
                self.put(self.out, "dist_cfg", self.table(item, f"{key}.{name}", DIST_CFG_KEYS))
            else:
                self.report(f"{key}.{name}", "no customrun twin, left out", item)
        return DROP

    def custom_imports(self, value: Any, key: str) -> Any:
        """``custom_imports`` as written (``imports`` a list or one string), less the OpenMMLab
        package modules convert did not find (``mmdet.models``): customrun would fail to import them."""
        imports = value.get("imports") if isinstance(value, dict) else None
        listed = [imports] if isinstance(imports, str) else imports
        if not isinstance(listed, list) or not self.names.mmengine_side:
            return self.clean(value, key)
        kept = []
        for index, module in enumerate(listed):
            if module not in self.names.mmengine_side:
                kept.append(module)
                continue
            where = f"{key}.imports" if isinstance(imports, str) else f"{key}.imports[{index}]"
            package = str(module).split(".")[0]
            self.report(
                where, f"{module!r} is a module of {package} (MMEngine's side), not found here, left out"
            )
        if not kept:
            return DROP
        return self.clean({**value, "imports": imports if isinstance(imports, str) else kept}, key)

    def launcher(self, value: Any, key: str) -> Any:
        if isinstance(value, str) and value in _LAUNCHERS:
            return _LAUNCHERS[value]
        shown = value.reason if isinstance(value, Untranslatable) else repr(value)
        self.report(
            key,
            f"the launcher {shown} has no customrun twin (customrun runs under torchrun), left out",
            value,
        )
        return DROP
