"""CheckpointHook: saves every ``interval`` epochs or iterations, at the end of training, and the
best checkpoint of each ``save_best`` metric, as MMEngine's hook of that name."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from customrun_core import checkpoint, parallel, run_checkpoint
from customrun_core.errors import ConfigError, closest, describe
from customrun_core.hooks import best as bests
from customrun_core.hooks.base import Hook, Priority

BEST_KEY = "best_checkpoints"
"""The checkpoint key of the hook's state: ``{metric: {"score", "step", "file"}}``."""
KEEP_KEY = "keep_ckpt_ids"
"""The checkpoint key of the steps whose periodic checkpoints ``max_keep_ckpts`` keeps (MMEngine's name)."""
CONFIG_KEY = "default_hooks.checkpoint"


class CheckpointHook(Hook):
    """Writes ``epoch_N.pt`` (or ``iter_N.pt`` with ``by_epoch = false``) and the best checkpoints.

    Args:
        interval: save every this many epochs (iterations); ``-1`` saves only the last. In a run with
            an iteration-based train loop, the loop's ``val_interval`` when not given.
        by_epoch: count epochs (in ``after_train_epoch``) or iterations (in ``after_train_iter``).
            In a run, not given, the train loop's unit (:func:`in_loop_unit`); ``true`` with an
            iteration-based loop is refused.
        max_keep_ckpts: keep only the newest N periodic checkpoints; ``-1`` keeps all. The steps kept
            are hook state in every checkpoint, so a resumed run goes on removing the oldest of them
            (MMEngine's ``keep_ckpt_ids``); files the list does not name are never removed.
        save_last: also save at the end of training when the last count is not a multiple of interval.
        save_best: a metric name, an array of them, or ``"auto"`` (the first metric of the first
            validation): after each validation in training whose value of the metric beats the best
            so far, ``best_{metric}_{periodic name}`` is written (``/`` made ``_``) and the previous
            best of that metric removed. The best score and its step are kept in every checkpoint.
        rule: ``"greater"`` or ``"less"``, one for every ``save_best`` entry or one per entry;
            absent, inferred from the metric's name with ``greater_keys`` / ``less_keys``.
        greater_keys: names (or parts of names, case-insensitive) where greater is better.
        less_keys: names (or parts of names) where less is better.
        out_dir: write checkpoints to ``out_dir/<work_dir's name>`` instead of the work directory.
        filename_tmpl: the periodic file name, one ``{}`` for the epoch or iteration (default
            ``epoch_{}.pt`` / ``iter_{}.pt``).
        published_keys: after training, copy the last and the best checkpoints keeping only these
            keys (e.g. ``["meta", "state_dict"]``) to ``NAME-<sha256[:8]>.pt``.

    The checks that need no metric run when the hook is built; a ``save_best`` metric that the
    validation does not report stops training at the first validation with one line naming the
    metrics it reports, the checkpoint of that step on disk (written then if the interval did not).
    """

    priority = Priority.VERY_LOW

    def __init__(
        self,
        interval: int = 1,
        by_epoch: bool = True,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        save_best: str | list[str] | None = None,
        rule: str | list[str] | None = None,
        greater_keys: str | list[str] | None = None,
        less_keys: str | list[str] | None = None,
        out_dir: str | None = None,
        filename_tmpl: str | None = None,
        published_keys: str | list[str] | None = None,
    ) -> None:
        if interval == 0 or interval < -1:
            raise ConfigError(f"expected an integer >= 1 or -1, got {interval}", key="interval")
        self.interval, self.by_epoch = interval, by_epoch
        self.max_keep_ckpts, self.save_last = max_keep_ckpts, save_last
        self.out_dir = out_dir
        self.filename_tmpl = _checked_template(filename_tmpl, by_epoch)
        self.published_keys = bests.as_names(published_keys, "published_keys")
        self._kept: list[int] = []  # steps of the periodic checkpoints max_keep_ckpts keeps, oldest first
        self._saving: int | None = None  # the step of the periodic save under way
        self._last: tuple[Path | None, int] | None = None  # this hook's last periodic save: path, iter
        self.save_best = bests.as_names(save_best, "save_best")
        self.greater_keys = bests.as_names(greater_keys, "greater_keys") or list(bests.GREATER_KEYS)
        self.less_keys = bests.as_names(less_keys, "less_keys") or list(bests.LESS_KEYS)
        self.rules: dict[str, str | None] = {}  # None: "auto", until the first validation names it
        self.best: dict[str, dict[str, Any]] = {}  # metric -> score, step, file
        self._training = False
        if self.save_best:
            for metric, given in zip(
                self.save_best, bests.check_save_best(self.save_best, rule), strict=True
            ):
                self.rules[metric] = given if metric == bests.AUTO else self._rule(metric, given)
            # Bound here, not defined on the class: a hook without save_best takes no part in
            # validation, resumes or saves, so it costs nothing there and hook orders stay as they are.
            self.before_train, self.after_train = self._before_train, self._after_train
            self.after_val_epoch = self._after_val_epoch
            self.before_save_checkpoint = self._before_save_checkpoint
            self.after_load_checkpoint = self._after_load_checkpoint
        elif self.published_keys:
            self.after_train = self._after_train
        if self.max_keep_ckpts > 0:  # the kept steps are state to resume; bound only when pruning
            self.before_save_checkpoint = self._before_save_checkpoint
            self.after_load_checkpoint = self._after_load_checkpoint

    # -- periodic checkpoints ------------------------------------------------------------------
    def after_train_epoch(self, runner: Any) -> None:
        if not self.by_epoch:
            return
        if self.every_n_epochs(runner, self.interval) or (
            self.save_last and self.is_last_train_epoch(runner)
        ):
            self._save(runner, runner.epoch + 1, epoch=runner.epoch + 1, iteration=runner.iter)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if self.by_epoch:
            return
        if self.every_n_train_iters(runner, self.interval) or (
            self.save_last and self.is_last_train_iter(runner)
        ):
            self._save(runner, runner.iter + 1, epoch=runner.epoch, iteration=runner.iter + 1)

    def _save(self, runner: Any, step: int, epoch: int, iteration: int) -> Path | None:
        filename = self.filename_tmpl.format(step)
        self._saving = step
        try:
            path = run_checkpoint.save(runner, filename, epoch, iteration, directory=self._directory(runner))
        finally:
            self._saving = None
        self._last = (path, iteration)
        if self.max_keep_ckpts > 0:
            kept = self._kept_after(step)
            dropped = [old for old in self._kept if old not in kept]
            self._kept = kept
            if path is not None:  # rank 0 removes: after the new file is complete, never before
                for old in dropped:
                    checkpoint.remove(self._periodic_path(runner, old))
        return path

    def _kept_after(self, step: int) -> list[int]:
        """The kept steps once the periodic checkpoint of ``step`` is written: the newest N."""
        kept = [old for old in self._kept if old != step] + [step]
        return kept[-self.max_keep_ckpts :]

    def _periodic_path(self, runner: Any, step: int) -> Path:
        name = self.filename_tmpl.format(step)
        if parallel.is_sharded(runner.model):
            name = Path(name).with_suffix(checkpoint.SHARDED_SUFFIX).name
        return self._directory(runner) / name

    def _directory(self, runner: Any) -> Path:
        """MMEngine's: the work directory, or ``out_dir`` joined with the work directory's name."""
        work_dir = Path(runner.work_dir)
        if self.out_dir is None or Path(self.out_dir).resolve() == work_dir.resolve():
            return work_dir
        return Path(self.out_dir) / work_dir.name

    # -- the best checkpoints (bound in __init__ when save_best is set) -------------------------
    def _rule(self, metric: str, given: str | None) -> str:
        rule = given or bests.infer_rule(metric, self.greater_keys, self.less_keys)
        if rule is None:
            raise bests.no_rule_error(metric, self.greater_keys, self.less_keys)
        return rule

    def _before_train(self, runner: Any) -> None:
        if self.by_epoch and not getattr(runner.train_loop, "by_epoch", True):
            raise ConfigError(
                "save_best with an iteration-based train loop needs by_epoch = false (counted in "
                "epochs, every best would be named epoch_0)",
                file=runner.cfg.source,
                key=f"{CONFIG_KEY}.by_epoch",
            )
        self._training = True

    def _after_train(self, runner: Any) -> None:
        self._training = False
        if self.published_keys and runner.rank == 0:
            last = self._last[0] if self._last is not None and self.save_last else None
            best = [self._directory(runner) / entry["file"] for entry in self.best.values()]
            for path in dict.fromkeys([*([last] if last is not None else []), *best]):
                self._publish(runner, path)

    def _before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        if self.save_best:
            checkpoint[BEST_KEY] = {metric: dict(entry) for metric, entry in self.best.items()}
        if self.max_keep_ckpts > 0:  # as it will be once this save is done: a resume goes on from there
            checkpoint[KEEP_KEY] = (
                list(self._kept) if self._saving is None else self._kept_after(self._saving)
            )

    def _after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        if not runner.cfg.resume:  # load_from: weights for a new run, which starts its own bests
            return
        if self.max_keep_ckpts > 0:
            stored = checkpoint.get(KEEP_KEY, [])  # none in a checkpoint saved without max_keep_ckpts
            steps = stored if isinstance(stored, list) else []
            # all of them: with a lower max_keep_ckpts than before, the next save removes the extra ones
            self._kept = [s for s in steps if type(s) is int and s >= 0]
        if self.save_best:
            self._load_bests(checkpoint)

    def _load_bests(self, checkpoint: dict) -> None:
        stored = checkpoint.get(BEST_KEY, {})
        if bests.AUTO in self.rules and len(stored) == 1:  # "auto" named it before the resume
            self._name_auto(next(iter(stored)))
        # a metric no longer in save_best is forgotten (its file stays where it is)
        self.best = {metric: dict(entry) for metric, entry in stored.items() if metric in self.rules}

    def _name_auto(self, metric: str) -> None:
        given = self.rules.pop(bests.AUTO)
        try:
            self.rules[metric] = self._rule(metric, given)
        except ConfigError as error:  # found in a running run: the key path is the whole one
            raise ConfigError(error.message, key=f"{CONFIG_KEY}.rule") from None

    def _after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        if not self._training:  # runner.val() outside training: nothing to compare with
            return
        if not metrics:
            runner.logger.warning("the validation reported no metric: no best checkpoint this time")
            return
        if bests.AUTO in self.rules:
            try:
                self._name_auto(next(iter(metrics)))
            except ConfigError as error:
                raise error.located(file=runner.cfg.source) from None
        unknown = [metric for metric in self.rules if metric not in metrics]
        if unknown:
            self._stop_on_unknown(runner, unknown[0], metrics)
        step = runner.epoch if self.by_epoch else runner.iter
        improved = [
            metric
            for metric, rule in self.rules.items()
            if rule is not None
            and metrics[metric] is not None  # MMEngine skips a metric reported as None
            and bests.is_better(rule, float(metrics[metric]), self.best.get(metric, {}).get("score"))
        ]
        if improved:
            self._save_best(runner, improved, metrics, step)

    def _stop_on_unknown(self, runner: Any, metric: str, metrics: dict) -> None:
        if self._last is None or self._last[1] != runner.iter:  # nothing on disk for this step yet
            step = runner.epoch if self.by_epoch else runner.iter
            self._save(runner, step, epoch=runner.epoch, iteration=runner.iter)
        where = self._last[0] if self._last is not None else None
        raise ConfigError(
            f"expected a metric the validation reports ({', '.join(metrics)}), got {metric!r}; "
            f"training stopped with {where or 'the checkpoint of this step'} saved: fix save_best and resume",
            file=runner.cfg.source,
            key=f"{CONFIG_KEY}.save_best",
            suggestions=closest(metric, metrics, n=1),
        )

    def _save_best(self, runner: Any, improved: list[str], metrics: dict, step: int) -> None:
        """Write the new best of each metric in ``improved``, then forget the previous ones."""
        directory = self._directory(runner)
        previous = {metric: self.best[metric]["file"] for metric in improved if metric in self.best}
        suffix = checkpoint.SHARDED_SUFFIX if parallel.is_sharded(runner.model) else None
        for metric in improved:
            name = bests.best_file_name(metric, self.filename_tmpl.format(step))
            name = Path(name).with_suffix(suffix).name if suffix else name
            self.best[metric] = {"score": float(metrics[metric]), "step": step, "file": name}
        written = []
        for metric in improved:  # every file holds every metric's new best (the state to resume)
            path = run_checkpoint.save(
                runner, self.best[metric]["file"], runner.epoch, runner.iter, directory, mark_last=False
            )
            if path is not None:
                written.append(path)
                unit = "epoch" if self.by_epoch else "iter"
                runner.logger.info(f"best {metric} {self.best[metric]['score']:.4f} at {unit} {step}: {path}")
        self._refresh_periodic(runner, written[0] if written else None)
        if runner.rank != 0:
            return
        self._write_marker(runner, directory)
        current = {entry["file"] for entry in self.best.values()}
        for metric, name in previous.items():
            if name not in current and (directory / name).exists():
                checkpoint.remove(directory / name)
                runner.logger.info(f"removed the previous best checkpoint of {metric}, {directory / name}")

    def _refresh_periodic(self, runner: Any, best_path: Path | None) -> None:
        """The periodic checkpoint of this very step was written before the validation: give it
        the new best too, or a run resumed from it would compare with an older best."""
        if self._last is None or self._last[1] != runner.iter:
            return
        periodic = self._last[0]
        if parallel.is_sharded(runner.model):  # a directory per process group: save it again
            step = runner.epoch if self.by_epoch else runner.iter
            run_checkpoint.save(
                runner, self.filename_tmpl.format(step), runner.epoch, runner.iter, self._directory(runner)
            )
        elif periodic is not None and best_path is not None:
            checkpoint.link_atomic(best_path, periodic)

    def _write_marker(self, runner: Any, directory: Path) -> None:
        work_dir = Path(runner.work_dir)
        entries = {}
        for metric, entry in self.best.items():
            path = directory / entry["file"]
            shown = path.relative_to(work_dir) if path.is_relative_to(work_dir) else path.absolute()
            rule = self.rules.get(metric)
            entries[metric] = {
                "path": str(shown),
                "score": entry["score"],
                "step": entry["step"],
                "rule": rule,
            }
        bests.write_marker(work_dir, entries)

    # -- publishing -----------------------------------------------------------------------------
    def _publish(self, runner: Any, path: Path) -> None:
        """MMEngine's publishing: the checkpoint with ``published_keys`` only, named after the
        first 8 hex digits of its SHA-256 (here of the written bytes)."""
        import torch

        if path.is_dir() or not path.exists():
            runner.logger.warning(f"published_keys: {path} is not a checkpoint file, not published")
            return
        full = checkpoint.load(path, key=f"{CONFIG_KEY}.published_keys")
        keys = self.published_keys or []
        missing = [key for key in keys if key not in full]
        if missing:
            runner.logger.warning(
                f"published_keys: {path.name} has no {', '.join(missing)} (it has {', '.join(full)})"
            )
        buffer = io.BytesIO()
        torch.save({key: full[key] for key in keys if key in full}, buffer)
        data = buffer.getvalue()
        target = path.with_name(f"{path.stem}-{hashlib.sha256(data).hexdigest()[:8]}.pt")
        checkpoint.write_bytes_atomic(target, data)
        runner.logger.info(f"published {path.name} as {target} (keys: {', '.join(keys)})")


def in_loop_unit(table: Any, key: str, loop_by_epoch: bool, val_interval: int | None) -> Any:
    """The hook table ``table`` (at ``key``) as a run whose train loop counts in epochs
    (``loop_by_epoch``) or iterations builds it. Under an iteration-based loop, a CheckpointHook's
    ``by_epoch`` not given is false (``iter_N.pt``), and its ``interval`` not given is the loop's
    ``val_interval``: a checkpoint at each validation, as the default does in an epoch-based run,
    where 1 would save every iteration. Any other table is returned as it is.

    Raises:
        ConfigError: ``by_epoch = true`` under an iteration-based loop, whose one epoch is the whole
            run: the only checkpoint would be ``epoch_1.pt``, at the end (MMEngine lets it be).
    """
    from customrun_core.build import resolve_type

    if loop_by_epoch or not isinstance(table, dict) or "type" not in table:
        return table
    target = resolve_type("hooks", table["type"], key)
    if not (isinstance(target, type) and issubclass(target, CheckpointHook)):
        return table
    if table.get("by_epoch", False) is True:
        raise ConfigError(
            "by_epoch = true counts epochs, but the train loop is iteration-based (one epoch, the whole run):"
            " the only checkpoint would be epoch_1.pt at the end; set by_epoch = false and the interval in"
            " iterations (or leave by_epoch out: it follows the train loop)",
            key=f"{key}.by_epoch",
        )
    defaults = {"by_epoch": False} | ({"interval": val_interval} if val_interval is not None else {})
    return defaults | table


def _checked_template(template: Any, by_epoch: bool) -> str:
    """The periodic file name template: one ``{}`` (MMEngine's rule); the default by unit."""
    if template is None:
        return "epoch_{}.pt" if by_epoch else "iter_{}.pt"
    valid = isinstance(template, str) and template.count("{}") == 1 and "/" not in template
    try:
        valid = valid and template.format(1) != template
    except (IndexError, KeyError, ValueError):  # other braces than the one {}
        valid = False
    if not valid:
        raise ConfigError(
            f'expected a file name with one "{{}}" for the step, like "epoch_{{}}.pt", got {describe(template)}',
            key="filename_tmpl",
        )
    return template
