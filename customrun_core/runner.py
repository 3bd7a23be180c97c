"""The Runner: a run's state and lifecycle, dispatched to loops and hooks.

It assembles the run through :mod:`customrun_core.assembly` and hands each other job to the module
that owns it: checkpoints to :mod:`customrun_core.run_checkpoint`, the graceful stop to
:mod:`customrun_core.stopping`, device choice to :mod:`customrun_core.devices`, the process group to
:mod:`customrun_core.distributed`. It knows no command line: the CLI turns its options into config
changes, validated as ``--set`` is.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from customrun_core import assembly, distributed, registry, run_checkpoint, speed
from customrun_core import checkpoint as ckpt
from customrun_core.config import RunConfig, attributed, load_config
from customrun_core.config.built import split_built
from customrun_core.devices import pick_device
from customrun_core.errors import RunExited, located
from customrun_core.hooks.dispatch import HookDispatcher
from customrun_core.hooks.tracing import parse_points
from customrun_core.models.wrappers import unwrap_model
from customrun_core.plugin_listing import header, plugin_rows
from customrun_core.randomness import draw_seed, seed_everything
from customrun_core.run_log import FILE_ONLY, console_text, make_logger
from customrun_core.scalars import ScalarBuffer
from customrun_core.stopping import GracefulStop
from customrun_core.work_dir import config_to_write, evaluation_dir, locked, make_work_dir, run_work_dir


class Runner:
    """A run: model, data, optimizer, schedulers, hooks and loops built from one config.

    What a hook may read (MMEngine's names): ``cfg``, ``model``, ``optim_wrapper``,
    ``param_schedulers``, ``train_dataloader``, ``val_dataloader``, ``test_dataloader``,
    ``train_loop``, ``val_loop``, ``test_loop``, ``iter``, ``epoch``, ``max_iters``, ``max_epochs``,
    ``work_dir``, ``rank``, ``world_size``, ``device``, ``logger``, ``scalars`` (values recorded
    for logging), ``seed``; and it may call ``call_hook``. Everything else is private.

    Every component table of the config is resolved and its arguments are checked against the
    component's signature when the runner is created, before anything is built, so a mistake
    anywhere stops the run at once.

    Args:
        cfg: the validated config.
        plugin_switches: plugin switches that take precedence over the environment and the config's
            ``[plugins]`` (the keyword arguments of ``PluginPolicy.collect``: ``cli_enable``,
            ``cli_disable``, ``cli_no_autoload``).
        trace_hooks: hook points whose calls are printed to stderr with their timings: ``"all"`` or
            comma-separated names (``--trace-hooks``); None traces nothing.
        built: objects given from Python in place of component tables, by key path (``"model"``,
            ``"train_dataloader.dataset"``, ...; :func:`customrun_core.config.built.split_built`).
    """

    def __init__(
        self,
        cfg: RunConfig,
        *,
        plugin_switches: Mapping[str, Any] | None = None,
        trace_hooks: str | None = None,
        built: Mapping[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self._built = dict(built or {})
        self.hooks = HookDispatcher()
        self._tracing = bool(trace_hooks)
        if trace_hooks:
            self.hooks.trace(parse_points(trace_hooks), lambda line: print(line, file=sys.stderr))
        assembly.prepare(cfg, plugin_switches, self.hooks)
        assembly.check(cfg, self._built)
        with located(cfg.source):
            device = pick_device(cfg.device)
            self.rank, self.world_size, self.device = distributed.setup(cfg.launcher, cfg.dist_cfg, device)
        self.work_dir = run_work_dir(cfg)
        make_work_dir(self.work_dir, cfg.source)  # one line if it cannot be, before anything is built
        self.logger = make_logger(self.work_dir, self.rank)
        seed = cfg.randomness.seed  # a drawn seed is rank 0's: every process shuffles alike
        seed = distributed.broadcast_object(draw_seed()) if seed is None else seed
        self.seed = seed_everything(seed, cfg.randomness.deterministic)
        if cfg.cudnn_benchmark:  # MMEngine's env_cfg.cudnn_benchmark: false leaves torch's setting
            torch.backends.cudnn.benchmark = True
        self.config_toml = config_to_write(cfg)  # the resolved config, as written and saved
        self.scalars = ScalarBuffer()
        self.model = self._place(assembly.build_model(cfg, self._built))
        for key, hook, priority in assembly.build_hooks(cfg, self.rank, self._built):
            with located(cfg.source, key):
                self.hooks.add(hook, priority)
        self._stop = GracefulStop(self.world_size, self.logger)
        self.last_saved: tuple[str, int] | None = None  # (file name, iteration) of this run's last save
        self.optim_wrapper: Any = None
        self.param_schedulers: Any = None
        self.train_dataloader: Any = None
        self.val_dataloader: Any = None
        self.test_dataloader: Any = None
        self.train_loop: Any = None
        self.val_loop: Any = None
        self.test_loop: Any = None

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any],
        overrides: Iterable[str] = (),
        *,
        plugin_switches: Mapping[str, Any] | None = None,
        trace_hooks: str | None = None,
        **changes: Any,
    ) -> Runner:
        """A runner from a TOML file or a mapping, with ``--set`` overrides, then ``changes`` to
        top-level keys (``work_dir=...``, ``device=...``; None leaves a key as it is) applied on
        top and validated with the rest of the config. A mapping may hold built objects in place of
        component tables (see :mod:`customrun_core.config.built`)."""
        built: dict[str, Any] = {}
        if isinstance(source, Mapping):
            source, built = split_built(source)
        given = {key: value for key, value in changes.items() if value is not None}
        cfg = load_config(source, overrides, given)
        return attributed(cls)(cfg, plugin_switches=plugin_switches, trace_hooks=trace_hooks, built=built)

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
        """Build the training side, load or resume a checkpoint, run the train loop, holding the
        work directory's lock throughout (a second training there is refused in one line)."""
        with locked(self.work_dir, self.cfg.source, self.rank):
            return self._train()

    def _train(self) -> Any:
        self._build_training()
        self._build_evaluation("val")
        self._start("train")
        with self._running(), self._stop.handling_signals():
            run_checkpoint.load_or_resume(self)
            self.optim_wrapper.initialize_count_status(
                self.model, self.train_loop.iter, self.train_loop.max_iters
            )
            # The wrappers fire before_optimizer_step themselves; None when no hook implements it
            fire = self.hooks.bind("before_optimizer_step", runner=self)
            for member in assembly.optim_members(self.optim_wrapper).values():
                member.before_step_hooks = fire
            model = self.train_loop.run()
            if self.train_loop.interrupted:
                raise self._stop.interruption(self.iter, self.work_dir, self.cfg.source)
            return model

    def val(self) -> dict[str, float]:
        """One validation pass; returns the metrics."""
        return self._evaluate("val")

    def test(self) -> dict[str, float]:
        """One test pass; returns the metrics."""
        return self._evaluate("test")

    def stop_requested(self, agree: bool = False) -> bool:
        """Whether training stops after this iteration: SIGINT or SIGTERM arrived (on any process;
        under torchrun the processes agree on it every few iterations, see
        :mod:`customrun_core.stopping`, or now with ``agree``). Train loops ask after each iteration."""
        return self._stop.requested(self.iter, agree)

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, filename: str, epoch: int, iteration: int) -> Path | None:
        """Write ``work_dir/filename`` atomically and point ``last_checkpoint`` at it; the path on
        rank 0, else None (see :func:`customrun_core.run_checkpoint.save`)."""
        return run_checkpoint.save(self, filename, epoch, iteration)

    def load_checkpoint(self, path: str | os.PathLike[str], weights_only: bool = False) -> dict[str, Any]:
        """Load a checkpoint: the weights, and unless ``weights_only`` the optimizer, schedulers,
        loop position and random states (see :func:`customrun_core.run_checkpoint.load`)."""
        return run_checkpoint.load(self, path, weights_only)

    # -- lifecycle -------------------------------------------------------------------------------
    def _evaluate(self, mode: str) -> dict[str, float]:
        if self.train_loop is None:  # evaluating only: its files go to a new folder, not over a training's
            self.work_dir = evaluation_dir(self.cfg, mode, self.rank, self.logger)
        self._build_evaluation(mode)
        self._start(mode)
        with self._running():
            if self.cfg.load_from:
                self.load_checkpoint(self.cfg.load_from, weights_only=True)
            metrics: dict[str, float] = getattr(self, f"{mode}_loop").run()
            return metrics

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
        except SystemExit as error:  # sys.exit(0) in a hook must not make a failed run exit 0
            raise RunExited(error.code) from error
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
        self.logger.info(header(rows), extra=console_text(header(rows, short=True)))
        self.logger.info(
            f"customrun {mode}: config {self.cfg.source}, work_dir {self.work_dir}, device {self.device}, seed {self.seed}"
        )
        order = self.hooks.format_order()
        self.logger.info(order, extra=FILE_ONLY)  # run.log only: the console starts with the first bar
        if self._tracing and self.rank == 0:
            print(order, file=sys.stderr)  # where the traced calls go

    # -- building ---------------------------------------------------------------------------------
    def _place(self, model: torch.nn.Module) -> Any:
        """The model on the run's device, in channels_last when asked, wrapped under torchrun
        (``model_wrapper_cfg``, after ``sync_bn``), its forward compiled when asked."""
        from customrun_core import parallel

        cfg = self.cfg
        model = model.to(self.device)
        if cfg.channels_last:  # the 4-D weights; the batches are converted as they are collated
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
        with located(cfg.source):
            if distributed.resolve_launcher(cfg.launcher) != "none":
                if cfg.sync_bn:
                    model = parallel.convert_sync_bn(model, self.device)
                model = assembly.build_model_wrapper(cfg, model, self.device)
            if speed.compile_forward(unwrap_model(model), cfg.compile):
                self.logger.info(
                    "the model's forward is compiled (torch.compile): the first iterations are slow"
                )
        return model

    def _build_training(self) -> None:
        if self.train_loop is not None:
            return
        cfg = self.cfg
        self.train_dataloader = self._dataloader("train")
        self.train_loop = assembly.build_train_loop(cfg, self, self.train_dataloader)
        self.optim_wrapper = assembly.build_optim_wrapper(cfg, self.model)
        for member in assembly.optim_members(self.optim_wrapper).values():
            member.set_nonfinite_policy(cfg.on_nonfinite, cfg.max_nonfinite_skips, self.logger)
        loop = self.train_loop
        self.param_schedulers = assembly.build_schedulers(cfg, self.optim_wrapper, loop, len(loop.dataloader))
        for message in assembly.optimization_warnings(cfg, self.param_schedulers, loop):
            self.logger.warning(message)

    def _build_evaluation(self, mode: str) -> None:
        if getattr(self, f"{mode}_loop") is not None:
            return
        if mode == "val" and self.cfg.val_dataloader is None:
            return  # training without validation
        loader = self._dataloader(mode)
        setattr(self, f"{mode}_dataloader", loader)
        setattr(self, f"{mode}_loop", assembly.build_eval_loop(self.cfg, mode, self, loader, self._built))

    def _dataloader(self, mode: str) -> Any:
        seed = self.seed + assembly.MODES.index(mode)
        return assembly.build_dataloader(
            self.cfg, mode, seed, self.rank, self.world_size, self.device, built=self._built
        )
