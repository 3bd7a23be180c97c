"""customrun-mlflow: a run tracked in MLflow (``custom_hooks = [{ type = "MLflowLoggerHook" }]``)."""

from customrun_mlflow.hook import MLflowLoggerHook

__all__ = ["MLflowLoggerHook"]
