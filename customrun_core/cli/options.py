"""Options several subcommands share."""

from __future__ import annotations

import click

config_argument = click.argument("config_file", metavar="CFG", type=click.Path(dir_okay=False))
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value (TOML value syntax; repeatable), e.g. --set train_cfg.max_epochs=3.",
)
work_dir_option = click.option(
    "--work-dir", type=click.Path(file_okay=False), help="Where logs and checkpoints go."
)
device_option = click.option("--device", help="auto, cpu, cuda or cuda:N (overrides the config's device).")
