"""The interface every loop has: built with the runner and its dataloader, run by ``run()``."""

from __future__ import annotations

from typing import Any


class BaseLoop:
    """A loop over one dataloader. Subclasses implement :meth:`run` and fire hooks through
    ``runner.call_hook``. A custom loop registers under the ``customrun.loops`` entry-point group;
    its config table's other keys are its keyword arguments."""

    def __init__(self, runner: Any, dataloader: Any) -> None:
        self.runner = runner
        self.dataloader = dataloader

    def run(self) -> Any:
        raise NotImplementedError
