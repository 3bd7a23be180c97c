"""The GPU-bound workload of ``throughput.py``, shared by its two contenders.

As a module (``custom_imports = {imports = ["gpu_workload"]}``, this folder on ``PYTHONPATH``) it
registers with customrun the model ``GpuResNet``, the dataset ``BankIndices`` and the hook
``ThroughputProbe``. As a script it is the other contender, the hand-written loop:

    python gpu_workload.py --device cuda --precision bfloat16 --out result.json

Both contenders train the same ResNet-18 (plain torch: torchvision is not available) on images
gathered from a synthetic bank that lives on the device, so that data loading costs nothing:
the dataloader hands out a small CPU tensor of indices and the forward pass gathers
``bank[indices]``. Both measure with the same :class:`WindowMeter`: a warm-up, then a window of
iterations timed between two ``torch.cuda.synchronize()`` calls, with torch's sync debug mode
counting the host-device synchronisations of every iteration in between.

Importing this module turns TF32 on (matmuls and cuDNN convolutions), for both contenders alike.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch import nn

from customrun_core import BaseModel, Hook, Priority, register
from customrun_core.models.base import unpack_batch

NUM_CLASSES = 1000
SYNC_TEXT = "synchroniz"  # torch's warning reads "called a synchronizing CUDA operation"
PRECISIONS = ("float32", "bfloat16")

# TF32 at import, so that both processes (this file as a script, or imported by customrun) run
# the float32 precision as "float32 with TF32", and bfloat16's float32 leftovers alike.
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


# -- the model ------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with a shortcut (a 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 layout: 7x7/2 stem and max-pool, four stages of two BasicBlocks
    (64, 128, 256, 512 channels), global average pool, a linear classifier."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        in_channels = 64
        for index, channels in enumerate((64, 128, 256, 512)):
            stride = 1 if index == 0 else 2
            stages.append(
                nn.Sequential(BasicBlock(in_channels, channels, stride), BasicBlock(channels, channels, 1))
            )
            in_channels = channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def make_bank(size: int, image_size: int, device: torch.device | str, seed: int = 0) -> torch.Tensor:
    """``size`` random float32 images (3 x image_size x image_size), drawn on ``device`` itself:
    on a GPU, drawing 1024 ImageNet-sized images there takes no time, on the host a second."""
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(size, 3, image_size, image_size, generator=generator, device=device)


@register("models", "GpuResNet")
class GpuResNet(BaseModel):
    """:class:`ResNet18` reading its images from a device-resident bank: ``inputs`` are indices.

    Args:
        bank_size: images in the bank.
        image_size: their height and width.
        bank_device: where the bank is drawn (the run's device: the runner's ``model.to`` then
            leaves it where it is).
        seed: the bank's seed.
    """

    bank: torch.Tensor

    def __init__(self, bank_size: int, image_size: int, bank_device: str = "cpu", seed: int = 0) -> None:
        super().__init__()
        self.net = ResNet18(NUM_CLASSES)
        # Not persistent: 600 MB of noise has no place in the end-of-run checkpoint.
        self.register_buffer("bank", make_bank(bank_size, image_size, bank_device, seed), persistent=False)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None, mode: str = "loss") -> Any:
        logits = self.net(self.bank[inputs])
        if mode == "predict":
            return logits
        if mode == "loss" and targets is not None:
            return {"loss": F.cross_entropy(logits, targets)}
        raise ValueError(f"mode must be 'predict', or 'loss' with targets, got {mode!r}")


@register("datasets", "BankIndices")
class BankIndices(torch.utils.data.Dataset):
    """Sample ``i`` is ``(i, label_i)``: an index into the bank and a fixed random class."""

    def __init__(self, size: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels: list[int] = torch.randint(NUM_CLASSES, (size,), generator=generator).tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return index, self.labels[index]


# -- the measurement -------------------------------------------------------------------------------
class SyncCounter:
    """Counts the synchronisations torch's sync debug mode reports (CUDA only) while active.

    ``torch.cuda.set_sync_debug_mode("warn")`` makes every synchronising operation (``.item()``,
    ``.cpu()``, a blocking copy, ``nonzero``, ...) issue a UserWarning; the "always" filter keeps
    Python from showing a warning only once per code location, and the ``showwarning`` in place
    counts the synchronisation warnings and passes every other warning on.
    ``torch.cuda.synchronize()`` itself is not reported, nor is ``Event.synchronize()``.
    """

    def __init__(self) -> None:
        self.count = 0
        self._catcher: Any = None
        self._previous: Any = None

    def start(self) -> None:
        self._catcher = warnings.catch_warnings()  # restores filters and showwarning on stop()
        self._catcher.__enter__()
        warnings.filterwarnings("always", message=f".*{SYNC_TEXT}", category=UserWarning)
        self._previous = warnings.showwarning
        warnings.showwarning = self._show
        torch.cuda.set_sync_debug_mode("warn")

    def _show(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if SYNC_TEXT in str(message):
            self.count += 1
        else:
            self._previous(message, category, filename, lineno, file, line)

    def take(self) -> int:
        """The synchronisations since the last call."""
        count, self.count = self.count, 0
        return count

    def stop(self) -> None:
        torch.cuda.set_sync_debug_mode("default")
        self._catcher.__exit__(None, None, None)


class WindowMeter:
    """Images per second over ``window`` iterations after ``warmup``, and syncs per iteration.

    :meth:`after_iter` is called at the very end of every iteration (the raw loop's last line; in
    customrun the after_train_iter of a LOWEST-priority hook). At the end of the last warm-up
    iteration it synchronises, turns the sync counter on and starts the clock; at the end of each
    window iteration it reads the syncs since the previous iteration's end (data loading, the copy
    to the device, every hook and the step are inside); at the end of the window it turns the
    counter off, then synchronises and stops the clock, so its own two synchronize calls fall
    outside the count.
    """

    def __init__(self, warmup: int, window: int, device: torch.device) -> None:
        if warmup < 1 or window < 1:
            raise ValueError(f"warmup and window must be >= 1, got {warmup} and {window}")
        self.warmup, self.window, self.device = warmup, window, device
        self.cuda = device.type == "cuda"
        self.counter = SyncCounter() if self.cuda else None
        self.sync_counts: list[int] = []
        self.images = 0
        self.seconds = 0.0
        self._start = 0.0
        self.done = False

    def _synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def after_iter(self, index: int, images: int) -> bool:
        """Note the end of iteration ``index`` (0-based) of ``images`` images; True when it closed the window."""
        if index == self.warmup - 1:
            self._synchronize()
            if self.counter is not None:
                self.counter.start()
            self._start = time.perf_counter()
            return False
        if self.done or not self.warmup <= index < self.warmup + self.window:
            return False
        self.images += images
        if self.counter is not None:
            self.sync_counts.append(self.counter.take())
        if index < self.warmup + self.window - 1:
            return False
        if self.counter is not None:
            self.counter.stop()
        self._synchronize()
        self.seconds = time.perf_counter() - self._start
        self.done = True
        return True

    def result(self, **extra: Any) -> dict[str, Any]:
        """Every figure of the window, the environment, and ``extra``."""
        peak = reserved = None
        if self.cuda:
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            reserved = torch.cuda.max_memory_reserved(self.device) / 2**20
        return {
            **extra,
            "images_per_s": self.images / self.seconds,
            "seconds": self.seconds,
            "images": self.images,
            "warmup": self.warmup,
            "window": self.window,
            "sync_counts": self.sync_counts if self.cuda else None,  # per window iteration
            "peak_memory_mb": peak,
            "peak_reserved_mb": reserved,
            "environment": environment(self.device),
        }


def environment(device: torch.device) -> dict[str, Any]:
    """What the process ran on: versions, the device, the TF32 settings in force."""
    cuda = device.type == "cuda"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "capability": ".".join(map(str, torch.cuda.get_device_capability(device))) if cuda else None,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=1), "utf-8")


@register("hooks", "ThroughputProbe")
class ThroughputProbe(Hook):
    """customrun's side of the measurement: a :class:`WindowMeter` in ``after_train_iter``.

    LOWEST priority, so that every other hook's work of an iteration falls inside that iteration.
    Writes ``work_dir/out`` when the window closes.

    Args:
        warmup: iterations before the window.
        window: iterations measured.
        out: the result file's name in the work directory.
    """

    priority = Priority.LOWEST

    def __init__(self, warmup: int, window: int, out: str = "throughput.json") -> None:
        self.warmup, self.window, self.out = warmup, window, out
        self.meter: WindowMeter | None = None

    def before_train(self, runner: Any) -> None:
        self.meter = WindowMeter(self.warmup, self.window, runner.device)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        assert self.meter is not None  # made in before_train
        inputs, _ = unpack_batch(data_batch)
        if self.meter.after_iter(batch_idx, len(inputs)):
            wrapper = runner.optim_wrapper
            dtype = getattr(wrapper, "cast_dtype", None)
            result = self.meter.result(
                contender="customrun",
                optim_wrapper=type(wrapper).__name__,
                autocast=str(dtype).removeprefix("torch.") if dtype is not None else None,
            )
            write_result(runner.work_dir / self.out, result)


# -- the hand-written loop --------------------------------------------------------------------------
def train_raw(args: argparse.Namespace) -> dict[str, Any]:
    """The loop a user writes by hand around the same model, data and optimizer; its result."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = ResNet18(NUM_CLASSES).to(device)
    bank = make_bank(args.bank_size, args.image_size, device)
    loader = torch.utils.data.DataLoader(
        BankIndices(args.bank_size),
        batch_size=args.batch_size,
        shuffle=False,
        num_workers=0,
        pin_memory=False,
    )
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    bf16 = args.precision == "bfloat16"
    meter = WindowMeter(args.warmup, args.window, device)
    total = args.warmup + args.window
    net.train()
    index = 0
    while index < total:
        for cpu_indices, cpu_labels in loader:
            # non_blocking, as customrun's loops copy a batch: a blocking copy waits for the GPU (a sync)
            indices = cpu_indices.to(device, non_blocking=True)
            labels = cpu_labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(bank[indices]), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            meter.after_iter(index, indices.shape[0])
            index += 1
            if index == total:
                break
    return meter.result(contender="raw", optim_wrapper=None, autocast="bfloat16" if bf16 else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--bank-size", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.out, train_raw(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
