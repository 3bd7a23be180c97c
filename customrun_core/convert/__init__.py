"""``customrun convert``: MMEngine Python configs to customrun TOML, without executing them."""

from __future__ import annotations
