"""Dataloaders from ``train_dataloader`` / ``val_dataloader`` / ``test_dataloader`` tables."""

from __future__ import annotations

import functools
import inspect
import itertools
import warnings
from collections.abc import Callable
from typing import Any, Literal

import attrs

from customrun_core.build import build, call_checked, check_arguments, split_type
from customrun_core.config.schema import structure
from customrun_core.errors import ConfigError
from customrun_core.import_paths import import_component, import_function


@attrs.frozen
class DataLoaderConfig:
    """The keys of a dataloader table (``torch.utils.data.DataLoader``'s names).

    ``pin_memory = "auto"`` pins batches when the run's device is CUDA (pinned memory is what
    makes the loops' ``non_blocking`` copies asynchronous); ``prefetch_factor`` (batches loaded
    ahead by each worker, torch's default 2) and ``persistent_workers`` need worker processes.

    ``collate_fn = "my_module:my_collate"`` names a plain Python function by import path (the one
    place a config names a function, not a class; builtins and the standard library are refused).
    ``sampler = {type = "my_module:MySampler", ...}`` builds a ``torch.utils.data.Sampler``
    subclass, given the dataset as its ``data_source`` or ``dataset`` argument and, when it takes
    both, ``num_replicas`` and ``rank`` (as ``DistributedSampler``); it replaces ``shuffle``.
    """

    dataset: dict[str, Any]
    batch_size: int = attrs.field(default=1, metadata={"minimum": 1})
    shuffle: bool = False
    # each worker is a process: a bound, so that a slip (10**18) is refused, not a fork bomb
    num_workers: int = attrs.field(default=0, metadata={"minimum": 0, "maximum": 1024})
    drop_last: bool = False
    pin_memory: bool | Literal["auto"] = "auto"
    persistent_workers: bool = False
    prefetch_factor: int | None = attrs.field(default=None, metadata={"minimum": 1})
    collate_fn: str | None = None
    sampler: dict[str, Any] | None = None


_WORKER_SETTINGS = ("prefetch_factor", "persistent_workers")


def check_dataloader(cfg: Any, key: str, file: str) -> DataLoaderConfig:
    """The validated table (unknown keys, wrong types and a missing ``dataset`` are errors, and
    so are worker settings without workers, which ``DataLoader`` would refuse when built)."""
    table = structure(DataLoaderConfig, cfg, file, key)
    if table.num_workers == 0:
        for name in _WORKER_SETTINGS:
            if getattr(table, name) not in (None, False):
                raise ConfigError(
                    f"needs worker processes, got num_workers = 0: set num_workers >= 1 or leave {name} out",
                    file=file,
                    key=f"{key}.{name}",
                )
    if table.sampler is not None and table.shuffle:
        raise ConfigError(
            "expected shuffle or a sampler, got both: the sampler decides the order; leave shuffle out",
            file=file,
            key=f"{key}.shuffle",
        )
    _collate_function(table, key, file)
    _sampler_class(table, key, file)
    return table


def _located(error: ConfigError, file: str, key: str) -> ConfigError:
    return error.located(file=file, key_prefix=key)


def _collate_function(table: DataLoaderConfig, key: str, file: str) -> Callable[[list[Any]], Any] | None:
    if table.collate_fn is None:
        return None
    try:
        collate: Callable[[list[Any]], Any] = import_function(table.collate_fn, "collate_fn")
    except ConfigError as error:
        raise _located(error, file, f"{key}.collate_fn") from None
    return collate


def _sampler_class(table: DataLoaderConfig, key: str, file: str) -> tuple[Any, dict[str, Any]] | None:
    """The sampler's class and its arguments, checked against its signature (the dataset and the
    shard it is given count as passed)."""
    if table.sampler is None:
        return None
    where = f"{key}.sampler"
    try:
        type_name, kwargs = split_type(table.sampler, where)
        if not isinstance(type_name, str) or not (":" in type_name or "." in type_name):
            raise ConfigError(
                f"expected an import path 'module:Class' (e.g. 'torch.utils.data:WeightedRandomSampler'), "
                f"got {type_name!r}",
                key=f"{where}.type",
            )
        try:
            target = import_component(type_name, "samplers", "sampler")
        except ConfigError as error:
            raise error.located(key_prefix=f"{where}.type") from None
        check_arguments(target, kwargs, _sampler_injected(target, None, 0, 1), where)
    except ConfigError as error:
        raise error.located(file=file) from None
    return target, kwargs


def _sampler_injected(target: Any, dataset: Any, rank: int, world_size: int) -> dict[str, Any]:
    """What customrun passes a user's sampler itself: the dataset, and this process's shard when
    the sampler takes ``num_replicas`` and ``rank`` (as ``DistributedSampler`` does)."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    injected: dict[str, Any] = {}
    for name in ("data_source", "dataset"):
        if name in params:
            injected[name] = dataset
            break
    if "num_replicas" in params and "rank" in params:
        injected.update(num_replicas=world_size, rank=rank)
    return injected


def _user_sampler(
    table: DataLoaderConfig, key: str, file: str, dataset: Any, rank: int, world_size: int
) -> Any:
    found = _sampler_class(table, key, file)
    assert found is not None  # only called with a sampler table
    target, kwargs = found
    injected = _sampler_injected(target, dataset, rank, world_size)
    if world_size > 1 and "num_replicas" not in injected:
        warnings.warn(
            f"{file}: {key}.sampler: {target.__name__} takes no num_replicas and rank, so each of the "
            f"{world_size} processes reads every sample it yields unless it shards by itself",
            stacklevel=3,
        )
    try:
        return call_checked(target, kwargs, f"{key}.sampler", **injected)
    except ConfigError as error:
        raise error.located(file=file) from None


def _collate_then_channels_last(collate: Callable[[list[Any]], Any], samples: list[Any]) -> Any:
    """A user's ``collate_fn``, then channels-last batches (module-level: picklable for workers)."""
    from customrun_core.batch import to_channels_last

    return to_channels_last(collate(samples))


class EpochShuffleSampler:
    """A random order of the dataset that depends only on ``seed + epoch`` (MMEngine's
    DefaultSampler), so a resumed run draws the same batches as an uninterrupted one.
    ``DistSamplerSeedHook`` calls :meth:`set_epoch` before each epoch."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Any:
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class ShardSampler:
    """This process's share of an evaluation dataset: indices ``rank, rank + world_size, ...``.

    Unlike ``DistributedSampler`` it pads nothing, so no sample is counted twice; shards may
    differ in length by one, which evaluation (no collective per batch) allows.
    """

    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.indices = range(rank, size, world_size)

    def __iter__(self) -> Any:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _sampler(
    dataset: Any, shuffle: bool, seed: int, rank: int, world_size: int, train: bool, drop_last: bool
) -> Any:
    """The order of one process's samples: seed + epoch shuffled, and sharded when distributed.

    Training shards have equal lengths: DistributedSampler repeats a few samples to fill them up,
    or with ``drop_last`` leaves the last few out instead."""
    if world_size == 1:
        return EpochShuffleSampler(len(dataset), seed) if shuffle else None
    if not train:
        return ShardSampler(len(dataset), rank, world_size)
    from torch.utils.data import DistributedSampler

    # The same seed + epoch permutation as EpochShuffleSampler, every world_size-th index per
    # process: N processes with batch B see the samples of one process with batch N * B.
    return DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )


class ResumableSampler:
    """The training sampler: the order of ``base`` (or the dataset's own order), able to start
    the next pass part-way (:meth:`skip_batches`) so that a run resumed from a checkpoint taken
    inside an epoch reads the rest of that epoch's batches, no batch twice.

    ``set_epoch`` also re-seeds the DataLoader's ``generator`` with ``seed + epoch``: that is
    where the DataLoader draws its worker seeds, so a resumed epoch's workers (and their random
    augmentations) get the seeds of the uninterrupted run, and the global torch generator is
    never drawn from by the data pipeline.
    """

    def __init__(self, base: Any, size: int, batch_size: int, generator: Any, seed: int) -> None:
        self.base, self.size, self.batch_size = base, size, batch_size
        self.generator, self.seed = generator, seed
        self._skip = 0
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)
        self.generator.manual_seed(self.seed + epoch)

    def skip_batches(self, count: int) -> None:
        """Leave out the first ``count`` batches of the next pass only."""
        self._skip = count * self.batch_size

    def __iter__(self) -> Any:
        skip, self._skip = self._skip, 0
        order = iter(self.base) if self.base is not None else iter(range(self.size))
        return itertools.islice(order, skip, None)

    def __len__(self) -> int:
        return len(self.base) if self.base is not None else self.size


@functools.cache
def _signal_safe_loader() -> Any:
    """``DataLoader`` whose worker processes leave SIGINT and SIGTERM to the main process (see
    :mod:`customrun_core.stopping`): a stop signal sent to the whole process group neither kills a
    worker nor makes the main process raise; the graceful stop then ends the workers itself."""
    from torch.utils.data import DataLoader

    from customrun_core.stopping import kill_at_exit, stop_signals_blocked

    class SignalSafeDataLoader(DataLoader):
        def _get_iterator(self) -> Any:
            if self.num_workers == 0:
                return super()._get_iterator()
            with stop_signals_blocked():  # the workers forked here start with them blocked
                iterator = super()._get_iterator()
            kill_at_exit(getattr(iterator, "_workers", ()))  # terminate() no longer ends them
            return iterator

    return SignalSafeDataLoader


def build_dataloader(
    cfg: Any,
    key: str,
    file: str,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    train: bool = True,
    *,
    device: Any = None,
    channels_last: bool = False,
    dataset: Any = None,
) -> Any:
    """A ``DataLoader`` whose shuffle order depends only on ``seed`` and the epoch.

    With ``world_size > 1`` each process reads its shard: training data through
    ``DistributedSampler`` (padded so every process takes as many steps), evaluation data through
    :class:`ShardSampler` (unpadded, so metrics summed over processes count each sample once).
    ``device`` (the run's) decides ``pin_memory = "auto"``; ``channels_last`` makes the batches'
    4-D tensors ``torch.channels_last`` as they are collated.
    """
    import torch

    from customrun_core.stopping import ignore_stop_signals

    table = check_dataloader(cfg, key, file)
    if dataset is None:  # else a Dataset given from Python, in place of the table
        dataset = build("datasets", table.dataset, key=f"{key}.dataset")
    generator = torch.Generator().manual_seed(seed)  # the loader's own: the global one stays untouched
    if table.sampler is not None:
        sampler = _user_sampler(table, key, file, dataset, rank, world_size)
    else:
        sampler = _sampler(dataset, table.shuffle, seed, rank, world_size, train, table.drop_last)
    if train:  # a user's sampler too: mid-epoch resume skips the batches already trained
        sampler = ResumableSampler(sampler, len(dataset), table.batch_size, generator, seed)
    pin_memory = table.pin_memory
    if pin_memory == "auto":
        pin_memory = device is not None and torch.device(device).type == "cuda"
    collate_fn = _collate_function(table, key, file)  # None: the DataLoader's default_collate
    if channels_last and collate_fn is not None:
        collate_fn = functools.partial(_collate_then_channels_last, collate_fn)
    elif channels_last:
        from customrun_core.batch import collate_channels_last as collate_fn
    return _signal_safe_loader()(
        dataset,
        batch_size=table.batch_size,
        sampler=sampler,
        generator=generator,
        num_workers=table.num_workers,
        drop_last=table.drop_last,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        persistent_workers=table.persistent_workers,
        prefetch_factor=table.prefetch_factor,
        worker_init_fn=ignore_stop_signals if table.num_workers else None,  # the main process decides
    )
