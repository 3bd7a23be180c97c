"""Hooks: the base class, priorities, the pluggy host, and the default hooks of a run."""

from customrun_core.hooks.base import Hook, Priority, get_priority

__all__ = ["Hook", "Priority", "get_priority"]
