"""The measured training processes of ``run.py``: W1 and W2 by hand, through MMEngine and Lightning.

Every framework trains the same ``nn.Module`` classes defined here, and each of those counts its
calls to ``forward`` (:class:`Probe`): on the forward calls listed in ``$CUSTOMRUN_BENCH_PROBE``
(for instance the first iteration of every epoch) it notes the time, so per-iteration cost in
steady state is measured the same way, inside the process, for a hand-written loop and for every
framework, without a timer hook that one framework would pay for and another not. The count is an
integer increment and a set lookup per iteration (well under a microsecond).

``customrun train`` runs the same classes through ``customrun_components.py`` (``custom_imports``);
this file never imports customrun, so the hand-written loop loads nothing of it.

    python benchmarks/workloads.py raw --workload w1 --epochs 33 --work-dir DIR
    python benchmarks/workloads.py {mmengine,mmengine-trimmed,lightning,lightning-off} ...
    python benchmarks/workloads.py build --workload w2    # import torch + build the model, then stop
    python benchmarks/workloads.py build-optimizer ...      # the same, and its torch.optim.SGD
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

PROBE_ENV = "CUSTOMRUN_BENCH_PROBE"
LR, MOMENTUM, SEED = 0.01, 0.9, 0


class Probe:
    """Counts forward calls; on the marked ones records (call index, ``perf_counter``,
    ``process_time``, ``time.time``) and writes them to the JSON file named in the environment once
    the last mark has passed. The wall-clock ``time.time`` lets the parent measure start-up."""

    def __init__(self) -> None:
        spec = json.loads(os.environ.get(PROBE_ENV) or "{}")
        self.out: str | None = spec.get("out")
        self.marks: frozenset[int] = frozenset(spec.get("marks", ()))
        self.last = max(self.marks, default=-1)
        self.calls = 0
        self.stamps: list[tuple[int, float, float, float]] = []

    def tick(self) -> None:
        index = self.calls
        self.calls = index + 1
        if index in self.marks:
            self.stamps.append((index, time.perf_counter(), time.process_time(), time.time()))
            if index == self.last:
                self.write()

    def write(self) -> None:
        if self.out is None:
            return
        record = {"stamps": self.stamps, "threads": torch.get_num_threads(), "pid": os.getpid()}
        Path(self.out).write_text(json.dumps(record), encoding="utf-8")


PROBE = Probe()


def one_thread() -> None:
    """Every measured process computes on one CPU thread (the parent also sets OMP_NUM_THREADS=1)."""
    torch.set_num_threads(1)


# -- the models: plain nn.Modules, the same for every framework --------------------------------
class ProbedMLP(nn.Sequential):
    """W1's model: 64 -> 256 -> 256 -> 10 with ReLUs."""

    def __init__(self, in_features: int = 64, hidden: int = 256, num_classes: int = 10) -> None:
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        PROBE.tick()
        return super().forward(inputs)


class SmallCNN(nn.Sequential):
    """W2's model: two 3x3 convolutions (16, 32 channels) with max-pooling, then 1568 -> 128 -> 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        PROBE.tick()
        return super().forward(inputs)


# -- the data -----------------------------------------------------------------------------------
class Digits(Dataset):
    """The training split of customrun's ``DigitsDataset``, computed the same way (scikit-learn's
    8x8 digits scaled to [0, 1], a seeded permutation, 20 % held out): 1,438 images."""

    def __init__(self, val_fraction: float = 0.2, seed: int = 0) -> None:
        from sklearn.datasets import load_digits

        data = load_digits()
        images = torch.as_tensor(data.data, dtype=torch.float32) / 16.0
        labels = torch.as_tensor(data.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        index = order[round(len(labels) * val_fraction) :]
        self.images, self.labels = images[index], labels[index]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


class RandomImages(Dataset):
    """W2's data: ``size`` random 1x28x28 images with random labels 0..9 (seeded)."""

    def __init__(self, size: int = 1280, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(size, 1, 28, 28, generator=generator)
        self.labels = torch.randint(0, 10, (size,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


WORKLOADS = {"w1": (ProbedMLP, 32), "w2": (SmallCNN, 64)}  # model class, batch size


def make_model(workload: str) -> nn.Module:
    return WORKLOADS[workload][0]()


def make_loader(workload: str, samples: int) -> DataLoader:
    dataset = Digits() if workload == "w1" else RandomImages(samples)
    generator = torch.Generator().manual_seed(SEED)
    return DataLoader(dataset, batch_size=WORKLOADS[workload][1], shuffle=True, generator=generator)


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


# -- the contenders -------------------------------------------------------------------------------
def run_raw(workload: str, epochs: int, samples: int, work_dir: Path) -> None:
    """The loop a user writes by hand: forward, loss, zero_grad, backward, step; a checkpoint at the end."""
    model, loader = make_model(workload), make_loader(workload, samples)
    optimizer = make_optimizer(model)
    model.train()
    for _ in range(epochs):
        for inputs, targets in loader:
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epochs}
    torch.save(state, work_dir / "last.pt")


def run_mmengine(workload: str, epochs: int, samples: int, work_dir: Path, trimmed: bool) -> None:
    """MMEngine's Runner: its default hooks (logger every 50 iterations, checkpoint only at the end),
    or with every default hook switched off (``trimmed``)."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Classifier(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.net = make_model(workload)

        def forward(self, inputs: torch.Tensor, targets: Any = None, mode: str = "tensor") -> Any:
            logits = self.net(inputs)
            return {"loss": F.cross_entropy(logits, targets)} if mode == "loss" else logits

    if trimmed:
        names = ("runtime_info", "timer", "sampler_seed", "logger", "param_scheduler", "checkpoint")
        default_hooks: dict[str, Any] = dict.fromkeys(names)
    else:
        default_hooks = {
            "logger": {"type": "LoggerHook", "interval": 50},
            "checkpoint": {"type": "CheckpointHook", "interval": -1},  # only at the end (save_last)
        }
    runner = Runner(
        model=Classifier(),
        work_dir=str(work_dir),
        train_dataloader=make_loader(workload, samples),
        train_cfg={"by_epoch": True, "max_epochs": epochs},
        optim_wrapper={"optimizer": {"type": "SGD", "lr": LR, "momentum": MOMENTUM}},
        default_hooks=default_hooks,
        env_cfg={"cudnn_benchmark": False, "dist_cfg": {"backend": "gloo"}},
        randomness={"seed": SEED},
    )
    one_thread()  # MMEngine's environment set-up may change the thread count
    runner.train()


def run_lightning(workload: str, epochs: int, samples: int, work_dir: Path, off: bool) -> None:
    """Lightning's Trainer with its defaults (CSV logger with ``self.log`` every step and a line
    every 50, progress bar, model summary, a checkpoint at the end) or ``barebones=True``, its
    switch for everything off."""
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl

    class Classifier(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = make_model(workload)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            inputs, targets = batch
            loss = F.cross_entropy(self.net(inputs), targets)
            if not off:
                self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return make_optimizer(self)

    common: dict[str, Any] = {
        "max_epochs": epochs,
        "accelerator": "cpu",
        "devices": 1,
        "default_root_dir": str(work_dir),
    }
    if off:
        trainer = pl.Trainer(barebones=True, **common)
    else:
        checkpoint = pl.callbacks.ModelCheckpoint(every_n_epochs=epochs)  # only at the end
        trainer = pl.Trainer(log_every_n_steps=50, callbacks=[checkpoint], **common)
    pl.seed_everything(SEED, verbose=False)
    one_thread()
    trainer.fit(Classifier(), train_dataloaders=make_loader(workload, samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "variant",
        choices=[
            "raw",
            "mmengine",
            "mmengine-trimmed",
            "lightning",
            "lightning-off",
            "build",
            "build-optimizer",
        ],
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="w1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1280, help="W2's dataset size")
    parser.add_argument("--work-dir", type=Path, default=Path("bench-work"))
    args = parser.parse_args()
    one_thread()
    torch.manual_seed(SEED)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.variant.startswith("build"):  # `import torch` plus the model, for the start-up comparison
        model = make_model(args.workload)
        if args.variant == "build-optimizer":  # the first optimizer imports torch._dynamo (torch 2.x)
            make_optimizer(model)
        PROBE.tick()
    elif args.variant == "raw":
        run_raw(args.workload, args.epochs, args.samples, args.work_dir)
    elif args.variant.startswith("mmengine"):
        run_mmengine(
            args.workload, args.epochs, args.samples, args.work_dir, args.variant.endswith("trimmed")
        )
    else:
        run_lightning(args.workload, args.epochs, args.samples, args.work_dir, args.variant.endswith("off"))


if __name__ == "__main__":
    main()
