"""The MMSegmentation seed's NewHook, with only its imports and registration changed."""

from __future__ import annotations

from collections.abc import Sequence

from customrun_core import Hook, is_model_wrapper, register


@register("hooks")
class NewHook(Hook):
    """Docstring for NewHook."""

    def __init__(self, a: int, b: int) -> None:
        self.a = a
        self.b = b

    def before_train_iter(self, runner, batch_idx: int, data_batch: Sequence[dict] | None = None) -> None:
        cur_iter = runner.iter
        model = runner.model  # the seed leaves `model` unset for an unwrapped model
        # get the model when it is wrapped in a wrapper
        if is_model_wrapper(runner.model):
            model = runner.model.module
        model.hyper_parameter = self.a * cur_iter + self.b
