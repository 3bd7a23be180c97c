"""``customrun test``."""

from __future__ import annotations

import json

import click

from customrun_core.cli.options import config_argument, plugin_switches, run_options, traced

BEST = "best"
METRICS_FILE = "metrics.json"  # in the evaluation's own folder, beside its config.toml and run.log


@click.command()
@config_argument
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint whose weights to evaluate; 'best' for the work directory's best checkpoint "
    "(save_best), 'best:METRIC' when it kept several.",
)
@run_options
def test(
    config_file: str,
    checkpoint: str,
    overrides: tuple[str, ...],
    work_dir: str | None,
    device: str | None,
    trace_hooks: str | None,
) -> None:
    """Evaluate CHECKPOINT on the test data of CFG and print the metrics as JSON.

    The evaluation writes its own files (config.toml, run.log, metrics.json) into a new folder
    test_<YYYYmmdd_HHMMSS> of the work directory: the training's files there stay untouched.
    """
    from customrun_core.runner import Runner

    changes = {"work_dir": work_dir, "device": device}
    if checkpoint == BEST or checkpoint.startswith(f"{BEST}:"):
        checkpoint = _best_checkpoint(config_file, overrides, changes, checkpoint)
    runner = Runner.from_config(
        config_file,
        overrides,
        plugin_switches=plugin_switches(),
        trace_hooks=traced(trace_hooks),
        load_from=checkpoint,
        **changes,
    )
    metrics = runner.test()
    if runner.rank == 0:
        (runner.work_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(metrics))


def _best_checkpoint(
    config_file: str, overrides: tuple[str, ...], changes: dict[str, str | None], given: str
) -> str:
    """The path of the best checkpoint that ``best`` / ``best:METRIC`` names in the run's work
    directory (``--work-dir``, else the config's, else MMEngine's default), from its marker."""
    from customrun_core.config import load_config
    from customrun_core.hooks.best import find_best
    from customrun_core.work_dir import run_work_dir

    cfg = load_config(config_file, overrides, {k: v for k, v in changes.items() if v is not None})
    metric = given.partition(":")[2] or None
    return str(find_best(run_work_dir(cfg), metric))
