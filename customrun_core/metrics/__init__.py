"""Metrics and the evaluator that runs them over a validation or test pass."""
