"""The Runner: assembles a run from a config and dispatches it to loops and hooks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import tomli_w
import torch

from customrun_core import checkpoint as ckpt
from customrun_core import distributed, parallel, plugins, registry, speed
from customrun_core.build import build, resolve_checked
from customrun_core.config import RunConfig, load_config
from customrun_core.config.schema import default_work_dir
from customrun_core.datasets.loader import build_dataloader, check_dataloader
from customrun_core.errors import ConfigError, TrainingInterrupted
from customrun_core.hooks.defaults import build_hook, hook_tables, split_priority
from customrun_core.hooks.manager import HookManager
from customrun_core.hooks.param_scheduler import iter_schedulers
from customrun_core.hooks.progress import ConsoleLogHandler, ProgressBarHook, progress_console
from customrun_core.hooks.tracing import parse_points
from customrun_core.loops.selection import train_loop_table
from customrun_core.metrics.evaluator import Evaluator, metric_tables
from customrun_core.models.wrappers import unwrap_model
from customrun_core.optim.constructor import (
    DEFAULT_CONSTRUCTOR,
    build_optim_wrapper,
    check_optimizer,
    optimizer_warnings,
)
from customrun_core.optim.wrapper_dict import (
    OptimWrapperDict,
    build_optim_wrapper_dict,
    is_per_submodule,
    schedulers_per_member,
)
from customrun_core.plugin_listing import header, plugin_rows
from customrun_core.plugin_policy import activate as activate_plugin_policy
from customrun_core.randomness import draw_seed, rng_state, seed_everything, set_rng_state
from customrun_core.scalars import ScalarBuffer
from customrun_core.schedulers.build import (
    build_param_schedulers,
    check_scheduler,
    scheduler_tables,
    warn_schedule_coverage,
)

_MODES = ("train", "val", "test")


# Under torchrun, how often (in iterations) the processes agree on whether a stop signal arrived.
STOP_AGREEMENT_EVERY = 10


def _make_logger(work_dir: Path, rank: int, console: Any = None) -> logging.Logger:
    """The run's logger: stdout (through the progress bar's rich ``console`` when there is one, so
    lines appear above the bar) and, on rank 0, ``WORK_DIR/run.log``; the same plain lines in both."""
    logger = logging.Logger("customrun")  # one per run, outside logging's global registry
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    formatter = logging.Formatter(
        "%(asctime)s - customrun - %(levelname)s - %(message)s", "%Y/%m/%d %H:%M:%S"
    )
    stdout = logging.StreamHandler(sys.stdout) if console is None else ConsoleLogHandler(console)
    handlers: list[logging.Handler] = [stdout]
    if rank == 0:
        handlers.append(logging.FileHandler(work_dir / "run.log", encoding="utf-8", delay=True))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


class Runner:
    """A run: model, data, optimizer, schedulers, hooks and loops built from one config.

    What a hook may read (MMEngine's names): ``cfg``, ``model``, ``optim_wrapper``,
    ``param_schedulers``, ``train_dataloader``, ``val_dataloader``, ``test_dataloader``,
    ``train_loop``, ``val_loop``, ``test_loop``, ``iter``, ``epoch``, ``max_iters``, ``max_epochs``,
    ``work_dir``, ``rank``, ``world_size``, ``device``, ``logger``, ``scalars`` (values recorded
    for logging), ``seed``, ``log_sinks`` (callables the LoggerHook hands every record it writes to
    ``scalars.jsonl``, on rank 0; a hook appends to it in ``before_run``); and it may call
    ``call_hook``. Everything else is private.

    Every component table of the config is resolved and its arguments are checked against the
    component's signature when the runner is created, before anything is built, so a mistake
    anywhere stops the run at once.
    """

    def __init__(
        self, cfg: RunConfig, plugin_switches: Mapping[str, Any] | None = None, trace_hooks: str | None = None
    ) -> None:
        """Check and build a run.

        Args:
            cfg: the validated config.
            plugin_switches: the command line's plugin options (``cli_enable``, ``cli_disable``,
                ``cli_no_autoload``), which take precedence over the environment and ``[plugins]``.
            trace_hooks: ``--trace-hooks``: ``"all"`` or comma-separated hook points to trace
                (``CUSTOMRUN_TRACE_HOOKS`` when None).
        """
        self.cfg = cfg
        self.rank, self.world_size = 0, 1
        self.hooks = HookManager()
        trace_hooks = trace_hooks or os.environ.get("CUSTOMRUN_TRACE_HOOKS")
        if trace_hooks and trace_hooks != "0":
            points = parse_points(trace_hooks)
            self.hooks.trace(points, lambda line: print(line, file=sys.stderr))
        activate_plugin_policy(cfg.plugins, plugin_switches)
        plugins.import_custom_modules(
            cfg.custom_imports.imports, cfg.custom_imports.allow_failed_imports, cfg.source
        )
        plugins.load_plugins(self.hooks)
        self._check_components()
        self.rank, self.world_size, self.device = self._located(
            lambda: distributed.setup(cfg.launcher, cfg.dist_cfg, self._pick_device(cfg.device))
        )
        self.work_dir = Path(cfg.work_dir or default_work_dir(cfg.source))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        console = progress_console(cfg.progress, self.rank)
        self.logger = _make_logger(self.work_dir, self.rank, console)
        seed = cfg.randomness.seed  # a drawn seed is rank 0's: every process shuffles alike
        seed = distributed.broadcast_object(draw_seed()) if seed is None else seed
        self.seed = seed_everything(seed, cfg.randomness.deterministic)
        if cfg.cudnn_benchmark:  # MMEngine's env_cfg.cudnn_benchmark: false leaves torch's setting
            torch.backends.cudnn.benchmark = True
        self.config_toml = tomli_w.dumps(cfg.to_dict())  # the resolved config, as written and saved
        self.scalars = ScalarBuffer()
        self.model = self._located(lambda: build("models", cfg.model, key="model")).to(self.device)
        if cfg.channels_last:  # the 4-D weights; the batches are converted as they are collated
            self.model.to(memory_format=torch.channels_last)
        if distributed.resolve_launcher(cfg.launcher) != "none":
            self.model = self._located(self._wrap_model)
        if self._located(lambda: speed.compile_forward(unwrap_model(self.model), cfg.compile)):
            self.logger.info("the model's forward is compiled (torch.compile): the first iterations are slow")
        for key, table in hook_tables(cfg.default_hooks, cfg.custom_hooks):
            hook, priority = self._located(lambda t=table, k=key: build_hook(t, k))
            self._located(lambda h=hook, p=priority, k=key: self.hooks.add(h, p), key)
        if console is not None:  # off (pipes, CI, pytest): not registered at all, so it costs nothing
            self.hooks.add(ProgressBarHook(console))
        self.log_sinks: list[Callable[[dict[str, Any]], None]] = []
        self._stop_signal: signal.Signals | None = None
        self.last_saved: tuple[str, int] | None = None  # (file name, iteration) of this run's last save
        self.optim_wrapper: Any = None
        self.param_schedulers: list[Any] | None = None
        self.train_dataloader = self.val_dataloader = self.test_dataloader = None
        self.train_loop: Any = None
        self.val_loop: Any = None
        self.test_loop: Any = None

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any],
        overrides: Iterable[str] = (),
        **changes: Any,
    ) -> Runner:
        """A runner from a TOML file or a mapping, with ``--set`` overrides and top-level changes
        (``work_dir=...``, ``device=...``) applied on top."""
        plugin_switches = changes.pop("plugin_switches", None)
        trace_hooks = changes.pop("trace_hooks", None)
        cfg = load_config(source, overrides)
        cfg = attrs.evolve(cfg, **{k: v for k, v in changes.items() if v is not None})
        return cls(cfg, plugin_switches, trace_hooks)

    # -- what hooks read ------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.train_loop.epoch if self.train_loop is not None else 0

    @property
    def iter(self) -> int:
        return self.train_loop.iter if self.train_loop is not None else 0

    @property
    def max_epochs(self) -> int:
        return self.train_loop.max_epochs if self.train_loop is not None else 0

    @property
    def max_iters(self) -> int:
        return self.train_loop.max_iters if self.train_loop is not None else 0

    def call_hook(self, point: str, **kwargs: Any) -> None:
        """Fire one hook point on every hook (custom loops call this too)."""
        kwargs["runner"] = self
        self.hooks.fire(point, kwargs)

    # -- the three entry points --------------------------------------------------------------
    def train(self) -> Any:
        """Build the training side, load or resume a checkpoint, run the train loop."""
        self._build_loop("train")
        self._build_loop("val")
        self._start("train")
        with self._running(), self._stopping_on_signals():
            self._load_or_resume()
            self.optim_wrapper.initialize_count_status(
                self.model, self.train_loop.iter, self.train_loop.max_iters
            )
            model = self.train_loop.run()
            if self.train_loop.interrupted:
                raise TrainingInterrupted(
                    f"stopped by {self._stop_signal.name} after iteration {self.iter}, checkpoint saved;"
                    f" go on with: customrun train {self.cfg.source} --resume",
                    self._stop_signal,
                )
            return model

    def stop_requested(self) -> bool:
        """Whether SIGINT or SIGTERM arrived (on any process): training then stops after the
        current iteration, with a checkpoint. Under torchrun the processes agree on it once every
        ``STOP_AGREEMENT_EVERY`` iterations (one small all-reduce, which on CUDA waits for the
        device: not every iteration), so that they all stop after the same one."""
        if self.world_size == 1:  # known since start-up: no torch.distributed queries per iteration
            return self._stop_signal is not None
        if self.iter % STOP_AGREEMENT_EVERY:
            return False  # a signal waits for the next agreement: no process stops alone
        stop = distributed.all_reduce_sum([float(self._stop_signal is not None)])[0] > 0
        if stop and self._stop_signal is None:
            self._stop_signal = signal.SIGTERM  # a peer's signal
        return stop

    @contextlib.contextmanager
    def _stopping_on_signals(self) -> Iterator[None]:
        """While training, the first SIGINT / SIGTERM asks for a graceful stop; a second one
        exits at once (status 128 + signal). Signal handlers exist only in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(number: int, _frame: Any) -> None:
            if self._stop_signal is not None:
                os._exit(128 + number)  # the second signal: no cleanup, as asked
            self._stop_signal = signal.Signals(number)
            when = (  # under torchrun every process stops at the same iteration: the next agreement
                "after this iteration"
                if self.world_size == 1
                else f"at the processes' next agreement (within {STOP_AGREEMENT_EVERY} iterations)"
            )
            self.logger.warning(
                f"{self._stop_signal.name} received: stopping {when} with a checkpoint"
                " (send it again to exit at once)"
            )

        previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def val(self) -> dict[str, float]:
        """One validation pass; returns the metrics."""
        return self._evaluate("val")

    def test(self) -> dict[str, float]:
        """One test pass; returns the metrics."""
        return self._evaluate("test")

    def _evaluate(self, mode: str) -> dict[str, float]:
        self._build_loop(mode)
        self._start(mode)
        with self._running():
            if self.cfg.load_from:
                self.load_checkpoint(self.cfg.load_from, weights_only=True)
            return getattr(self, f"{mode}_loop").run()

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        """``before_run`` ... ``after_run`` (also after an error), then close the log.

        The process group stays for the runner's next ``train()`` / ``val()`` / ``test()`` and is
        left when the process exits, all processes together; after an error it is left at once.
        """
        clean = False
        try:
            self.call_hook("before_run")
            yield
            clean = True
        finally:
            try:
                self.call_hook("after_run")
            finally:
                for handler in self.logger.handlers:
                    handler.close()  # a FileHandler reopens (appends) if the runner logs again
                if clean:
                    distributed.teardown_at_exit()
                else:
                    distributed.teardown()

    def _start(self, mode: str) -> None:
        rows = plugin_rows(include_core=True, loaded=registry.loaded_distributions())
        if self.rank == 0:
            ckpt.write_text_atomic(self.work_dir / "config.toml", self.config_toml)
            ckpt.write_text_atomic(self.work_dir / "plugins.json", json.dumps(rows, indent=2))
        self.logger.info(header(rows))
        self.logger.info(
            f"customrun {mode}: config {self.cfg.source}, work_dir {self.work_dir}, device {self.device}, seed {self.seed}"
        )
        self.logger.info(self.hooks.format_order())

    # -- building ---------------------------------------------------------------------------
    def _located(self, make: Any, key: str | None = None) -> Any:
        """Run ``make()``; a config error from it gets this config's file and the key prefix ``key``."""
        try:
            return make()
        except ConfigError as error:
            raise error.located(file=self.cfg.source, key_prefix=key) from error

    def _wrap_model(self) -> Any:
        """The model in ``model_wrapper_cfg``'s wrapper (DDP by default), after ``sync_bn``."""
        model = self.model
        if self.cfg.sync_bn:
            model = parallel.convert_sync_bn(model, self.device)
        return build(
            "model_wrappers",
            self.cfg.model_wrapper_cfg,
            "model_wrapper_cfg",
            parallel.DEFAULT_WRAPPER,
            model=model,
            device=self.device,
        )

    def _pick_device(self, device: str) -> torch.device:
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            chosen = torch.device(device)
        except RuntimeError:
            raise ConfigError(
                f"expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}",
                file=self.cfg.source,
                key="device",
            ) from None
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"{device!r} asked for, but torch sees no CUDA device", file=self.cfg.source, key="device"
            )
        return chosen

    def _check_components(self) -> None:
        """Resolve every component table and check its arguments, building nothing."""
        cfg = self.cfg

        def check(kind: str, table: Any, key: str, default: str | None = None, **injected: Any) -> None:
            self._located(lambda: resolve_checked(kind, table, key, default, **injected))

        check("models", cfg.model, "model")
        self._located(lambda: speed.compile_arguments(cfg.compile))
        for mode in _MODES:
            loader = getattr(cfg, f"{mode}_dataloader")
            if loader is not None:
                table = self._located(
                    lambda table=loader, m=mode: check_dataloader(table, f"{m}_dataloader", cfg.source)
                )
                check("datasets", table.dataset, f"{mode}_dataloader.dataset")
            for key, metric in metric_tables(getattr(cfg, f"{mode}_evaluator", None), f"{mode}_evaluator"):
                check("metrics", metric, key)
        if cfg.train_cfg is not None:
            table, default = self._located(lambda: train_loop_table(cfg.train_cfg), "train_cfg")
            check("loops", table, "train_cfg", default, runner=None, dataloader=None)
        for mode in ("val", "test"):
            table = getattr(cfg, f"{mode}_cfg")
            if table is not None:
                check(
                    "loops",
                    table,
                    f"{mode}_cfg",
                    mode.capitalize() + "Loop",
                    runner=None,
                    dataloader=None,
                    evaluator=None,
                )
        if cfg.optim_wrapper is not None:
            per_member = is_per_submodule(cfg.optim_wrapper)
            members = cfg.optim_wrapper.items() if per_member else [("", cfg.optim_wrapper)]
            for name, wrapper in members:
                prefix = f"optim_wrapper.{name}" if name else "optim_wrapper"
                constructor = wrapper.get("constructor", DEFAULT_CONSTRUCTOR)
                check("optim_wrapper_constructors", constructor, f"{prefix}.constructor",
                      optim_wrapper_cfg=None, paramwise_cfg=None)  # fmt: skip
                if "optimizer" in wrapper:
                    self._located(lambda w=wrapper: check_optimizer(w["optimizer"]), prefix)
            names = list(cfg.optim_wrapper) if per_member else [""]
            for sub_cfg in self._located(lambda: schedulers_per_member(cfg.param_scheduler, names)).values():
                for key, table in scheduler_tables(sub_cfg):
                    self._located(lambda t=table, k=key: check_scheduler(t, k))
        for key, table in self._located(lambda: hook_tables(cfg.default_hooks, cfg.custom_hooks)):
            check("hooks", split_priority(table)[0], key)
        check("model_wrappers", cfg.model_wrapper_cfg, "model_wrapper_cfg", parallel.DEFAULT_WRAPPER,
              model=None, device=None)  # fmt: skip

    def _require(self, key: str, why: str) -> Any:
        value = getattr(self.cfg, key)
        if value is None:
            raise ConfigError(f"required {why}", file=self.cfg.source, key=key)
        return value

    def _build_loop(self, mode: str) -> None:
        if getattr(self, f"{mode}_loop") is not None:
            return
        loader_cfg = getattr(self.cfg, f"{mode}_dataloader")
        if mode == "val" and loader_cfg is None:
            return  # training without validation
        loader_cfg = self._require(f"{mode}_dataloader", f"to {mode}")
        seed = self.seed + _MODES.index(mode)
        shard = (self.rank, self.world_size, mode == "train")  # this process's share of the data
        speed_settings = {"device": self.device, "channels_last": self.cfg.channels_last}
        loader = self._located(
            lambda: build_dataloader(
                loader_cfg, f"{mode}_dataloader", self.cfg.source, seed, *shard, **speed_settings
            )
        )
        setattr(self, f"{mode}_dataloader", loader)
        if mode == "train":
            train_cfg = self._require("train_cfg", "to train")
            table, default = self._located(lambda: train_loop_table(train_cfg), "train_cfg")
            self.train_loop = self._located(
                lambda: build(
                    "loops", table, key="train_cfg", default_type=default, runner=self, dataloader=loader
                )
            )
            self._build_optimization()
            return
        evaluator_cfg = self._require(f"{mode}_evaluator", f"when {mode}_dataloader is set")
        evaluator = self._located(lambda: Evaluator.from_config(evaluator_cfg, f"{mode}_evaluator"))
        loop_cfg = getattr(self.cfg, f"{mode}_cfg") or {}
        loop = self._located(
            lambda: build(
                "loops",
                loop_cfg,
                key=f"{mode}_cfg",
                default_type=mode.capitalize() + "Loop",
                runner=self,
                dataloader=loader,
                evaluator=evaluator,
            )
        )
        setattr(self, f"{mode}_loop", loop)

    def _build_optimization(self) -> None:
        optim_cfg = self._require("optim_wrapper", "to train")
        if is_per_submodule(optim_cfg) and parallel.is_sharded(self.model):
            raise ConfigError(
                "one optim wrapper per submodule is not supported with FSDP: use one [optim_wrapper]",
                file=self.cfg.source,
                key="optim_wrapper",
            )
        build_wrapper = build_optim_wrapper_dict if is_per_submodule(optim_cfg) else build_optim_wrapper
        self.optim_wrapper = self._located(lambda: build_wrapper(self.model, optim_cfg), "optim_wrapper")
        for message in optimizer_warnings(optim_cfg):
            self.logger.warning(message)
        members = (
            self.optim_wrapper.values()
            if isinstance(self.optim_wrapper, OptimWrapperDict)
            else [self.optim_wrapper]
        )
        for member in members:
            member.on_nonfinite, member.logger = self.cfg.on_nonfinite, self.logger
        loop = self.train_loop

        def schedulers(cfg: Any, wrapper: Any) -> list[Any]:
            return self._located(
                lambda: build_param_schedulers(
                    cfg, wrapper, len(loop.dataloader), loop.max_epochs, loop.max_iters
                )
            )

        if isinstance(self.optim_wrapper, OptimWrapperDict):
            per_member = self._located(
                lambda: schedulers_per_member(self.cfg.param_scheduler, list(self.optim_wrapper))
            )
            self.param_schedulers = {
                name: schedulers(per_member[name], wrapper) for name, wrapper in self.optim_wrapper.items()
            }
        else:
            self.param_schedulers = schedulers(self.cfg.param_scheduler, self.optim_wrapper)
        warn_schedule_coverage(self.cfg.param_scheduler, self.param_schedulers, loop, self.logger)

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, filename: str, epoch: int, iteration: int) -> Path | None:
        """Write ``work_dir/filename`` atomically and point ``last_checkpoint`` at it.

        Rank 0 writes it; a model sharded with FSDP is saved by every process into the directory
        ``filename`` with the suffix ``.dcp``. Returns the path on rank 0, else None.
        """
        sharded = parallel.is_sharded(self.model)
        if self.rank != 0 and not sharded:
            return None
        if sharded:
            from customrun_core import sharded_checkpoint

            state_dict, optimizer = sharded_checkpoint.state(self.model, self.optim_wrapper.optimizer)
            optimizer = {**self.optim_wrapper.state_dict(), **optimizer}
            filename = Path(filename).with_suffix(ckpt.SHARDED_SUFFIX).name
        else:
            state_dict, optimizer = unwrap_model(self.model).state_dict(), self.optim_wrapper.state_dict()
        checkpoint: dict[str, Any] = {
            "meta": {
                "epoch": epoch,
                "iter": iteration,
                "seed": self.seed,
                "config": self.config_toml,
                "rng": rng_state(),
            },
            "state_dict": state_dict,
            "optimizer": optimizer,
            "param_schedulers": [s.state_dict() for s in iter_schedulers(self.param_schedulers)],
        }
        self.call_hook("before_save_checkpoint", checkpoint=checkpoint)
        path = self.work_dir / filename
        if sharded:
            sharded_checkpoint.save(checkpoint, path, self.rank)
        else:
            ckpt.save_atomic(checkpoint, path)
        if self.rank != 0:
            return None
        ckpt.write_text_atomic(self.work_dir / ckpt.LAST_CHECKPOINT, filename)
        self.last_saved = (filename, iteration)
        self.logger.info(f"saved checkpoint {path}")
        return path

    def remove_checkpoint(self, path: str) -> None:
        if Path(path).is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            Path(path).unlink(missing_ok=True)

    def load_checkpoint(self, path: str | os.PathLike[str], weights_only: bool = False) -> dict[str, Any]:
        """Load a checkpoint: the weights, and unless ``weights_only`` the optimizer, schedulers and
        the loop position (resume)."""
        key = "load_from" if weights_only else "resume"
        checkpoint = self._located(lambda: ckpt.load(path, key))
        optimizer = None if weights_only else self.optim_wrapper
        if "sharded" in checkpoint:
            from customrun_core import sharded_checkpoint

            inner = None if optimizer is None else optimizer.optimizer
            self._located(lambda: sharded_checkpoint.load(checkpoint, unwrap_model(self.model), inner, key))
            optimizer_state = {**checkpoint["optimizer"], **inner.state_dict()} if inner is not None else None
        elif parallel.is_sharded(self.model) and not weights_only:
            raise ConfigError(
                f"{path} is a single-file checkpoint; a model sharded with FSDP resumes from a .dcp directory",
                file=self.cfg.source,
                key=key,
            )
        else:
            optimizer_state = checkpoint.get("optimizer")
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)  # before applying, as MMEngine
        if "sharded" in checkpoint:
            pass  # its tensors are in place already
        elif parallel.is_sharded(self.model):  # load_from a single file: each process takes its shard
            from customrun_core import sharded_checkpoint

            sharded_checkpoint.load_full_weights(self.model, checkpoint["state_dict"])
        else:
            unwrap_model(self.model).load_state_dict(checkpoint["state_dict"])
        if optimizer is not None:
            optimizer.load_state_dict(optimizer_state)
            for scheduler, state in zip(
                iter_schedulers(self.param_schedulers), checkpoint["param_schedulers"], strict=False
            ):
                scheduler.load_state_dict(state)
            meta = checkpoint["meta"]
            self.train_loop.epoch, self.train_loop.iter = meta["epoch"], meta["iter"]
            if "rng" in meta:
                set_rng_state(meta["rng"])
        self.logger.info(f"loaded checkpoint {path}" + (" (weights only)" if weights_only else " (resumed)"))
        return checkpoint

    def _resume_newest(self) -> None:
        """Resume from the newest checkpoint of the work directory that loads; a damaged or
        missing one is passed over with a warning naming it."""
        candidates = ckpt.resume_candidates(self.work_dir)
        if not candidates:
            self.logger.warning(f"resume = true but {self.work_dir} has no checkpoint: training from scratch")
            return
        refused = []
        for path in candidates:
            try:
                self.load_checkpoint(path)
                return
            except ConfigError as error:
                refused.append(str(path))
                self.logger.warning(f"cannot resume from it: {error.message}; trying the previous checkpoint")
        raise ConfigError(
            f"no checkpoint of {self.work_dir} loads (tried {', '.join(refused)}): remove them or pass --resume PATH",
            file=self.cfg.source,
            key="resume",
        )

    def _load_or_resume(self) -> None:
        if self.rank == 0:
            for path in ckpt.remove_unfinished(self.work_dir):
                self.logger.info(f"removed {path}, left by a save that did not finish")
        resume = self.cfg.resume
        if isinstance(resume, str):
            self.load_checkpoint(resume)
        elif resume:
            self._resume_newest()
        elif self.cfg.load_from:
            self.load_checkpoint(self.cfg.load_from, weights_only=True)
