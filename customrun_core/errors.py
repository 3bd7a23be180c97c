"""The one exception tree of customrun.

Every mistake a user can make in a config, on the command line or in the set of installed
plugins is a :class:`CustomrunError`. The command line turns each into one line on stderr and
exit status 2; nothing else is shown unless ``--traceback`` is given.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator

__all__ = [
    "ComponentError",
    "ConfigError",
    "CustomrunError",
    "HookError",
    "NonFiniteLossError",
    "PluginError",
    "TrainingInterrupted",
    "closest",
    "describe",
    "did_you_mean",
    "first_line",
    "located",
    "one_line",
]

# Every character str.splitlines() breaks at, written as an escape: a key or file name holding one
# (TOML's quoted keys may, a file name may) must not break an error message into several lines.
_LINE_BREAKS = {
    c: repr(chr(c))[1:-1] for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)
}


def one_line(text: str) -> str:
    """``text`` with its line breaks (``\\n``, ``\\r``, ...) escaped as Python writes them."""
    return text.translate(_LINE_BREAKS)


def closest(name: str, candidates: Iterable[str], n: int = 3, *, strict: bool = False) -> list[str]:
    """The candidates that look most like ``name`` (case-insensitive), best first.

    By default difflib's similarity of at least 0.6 decides, which suits key names. ``strict``
    (for component names, which share long suffixes such as ``Hook`` and ``LR`` that make unrelated
    names look alike: ``EMAHook`` and ``IterTimerHook`` score 0.6) keeps only a typo away: equal
    ignoring case, at most one edit per four characters of ``name`` (at least one; an insertion,
    deletion, substitution or swap of neighbours counts one), or one name holding the other with
    at least five characters and half of the other (``MultiStep`` for ``MultiStepLR``).
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    typed = name.lower()
    if not strict:
        return [by_lower[m] for m in difflib.get_close_matches(typed, list(by_lower), n=n, cutoff=0.6)]
    limit = max(1, len(typed) // 4)
    ranked = []
    for lower in by_lower:
        distance = _edits(typed, lower)
        short, long = sorted((typed, lower), key=len)
        if distance <= limit or (len(short) >= 5 and 2 * len(short) >= len(long) and short in long):
            ranked.append((distance, -difflib.SequenceMatcher(None, typed, lower).ratio(), lower))
    return [by_lower[lower] for *_, lower in sorted(ranked)[:n]]


def _edits(a: str, b: str) -> int:
    """The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
    neighbouring characters needed to turn ``a`` into ``b``."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[len(b)]


def did_you_mean(suggestions: Iterable[str]) -> str:
    """`` (did you mean 'a' or 'b'?)`` for the suggestions, with its leading space; ``""`` for none."""
    shown = " or ".join(repr(s) for s in suggestions)
    return f" (did you mean {shown}?)" if shown else ""


def describe(value: object) -> str:
    """A short description of a config value for an error message: its TOML kind and its text."""
    kinds = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for one-line reports."""
    text = str(getattr(error, "message", None) or error).strip()
    head = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {head}" if head else type(error).__name__


class CustomrunError(Exception):
    """Base class of every error the command line shows as one line, with exit status
    ``exit_code`` (2: a mistake in the input)."""

    exit_code = 2
    # True for the one message that is a block on purpose (the broken plugins, one per line), its
    # lines escaped where they were built
    block = False

    def __str__(self) -> str:
        # the one place the one-line rule is kept, whatever names a message quotes
        text = super().__str__()
        return text if self.block else one_line(text)


class NonFiniteLossError(CustomrunError):
    """The loss became NaN or infinite and ``on_nonfinite = "error"``."""

    exit_code = 1


class RunExited(CustomrunError):
    """Code inside a run (a hook, the model, a dataset) called ``sys.exit(code)``: the run did
    not finish, whatever code it passed, so the exit status is 1, never 0."""

    exit_code = 1

    def __init__(self, code: object) -> None:
        super().__init__(
            f"code inside the run (a hook, the model or a dataset) called sys.exit({code!r}); "
            "the run did not finish"
        )


class TrainingInterrupted(CustomrunError):
    """SIGINT or SIGTERM stopped training after a checkpoint; the exit status is 128 + the signal."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


class ConfigError(CustomrunError):
    """A config value is wrong: says the file, the key path, what was expected and what was found."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        suggestions: Iterable[str] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.suggestions = list(suggestions)
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        text = f"{where}: {self.message}" if where else self.message
        return text + did_you_mean(self.suggestions)

    def located(self, file: str | None = None, key_prefix: str | None = None) -> ConfigError:
        """The same error with the file filled in and/or the key path prefixed."""
        key = self.key
        if key_prefix:
            key = f"{key_prefix}.{key}" if key else key_prefix
        return type(self)(self.message, file=self.file or file, key=key, suggestions=self.suggestions)


class ComponentError(ConfigError):
    """A ``type`` names no component, or more than one distribution provides it."""


class HookError(ConfigError):
    """A hook cannot be registered: misspelt hook point, bad priority, wrong signature."""


class PluginError(CustomrunError):
    """An installed plugin failed to load or to validate."""


@contextlib.contextmanager
def located(file: str | None, key: str | None = None) -> Iterator[None]:
    """A :class:`ConfigError` raised inside gets ``file`` (when it names none yet) and the key
    prefix ``key``: ``with located(cfg.source, "optim_wrapper"): build(...)``."""
    try:
        yield
    except ConfigError as error:
        raise error.located(file=file, key_prefix=key) from error
