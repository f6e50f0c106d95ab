"""Training loop: AdamW + one-cycle/cosine, AMP on GPU, gradient clipping, DDP, JSON-lines logs, exact resume.

Resuming checks that the run's config is the one it was trained with (naming the keys that differ) and cuts
``log.jsonl`` back to the resumed step, so no step is logged twice; a loss that is no longer finite stops training
with one error naming the step and the last good checkpoint, which is kept as it was.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from calib.atomic import atomic_write_bytes, check_writable_folder
from perception.errors import DataError
from perception.inference.weights import model_state, read_checkpoint
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector
from perception.train import checkpoint
from perception.train.augment import collate_training
from perception.train.config import TrainConfig
from perception.train.data import EpochSampler, FrameDataset
from perception.train.distributed import DistributedContext, average, setup, teardown
from perception.typed_config import from_dict, to_dict


RESUMABLE_CHANGES = {"train.dataroot", "train.num_workers", "train.log_every", "train.checkpoint_every"}
"""Settings a run may change when it resumes: they move or pace the work, not what it computes."""


def flat(config: dict, prefix: str = "") -> dict[str, object]:
    """A nested config as ``{"a.b.c": value}``."""
    items = {}
    for key, value in config.items():
        if isinstance(value, dict):
            items |= flat(value, f"{prefix}{key}.")
        else:
            items[f"{prefix}{key}"] = value
    return items


def config_differences(saved: dict, current: dict) -> list[str]:
    """``"key: saved -> current"`` for every setting (dotted key) that differs, besides ``RESUMABLE_CHANGES``."""
    saved, current = flat(saved), flat(json.loads(json.dumps(current)))  # tuples compare as the JSON lists
    return [f"{key}: {saved.get(key, '(none)')!r} -> {current.get(key, '(none)')!r}"
            for key in sorted(saved.keys() | current.keys())
            if key not in RESUMABLE_CHANGES and saved.get(key) != current.get(key)]


def drop_log_after(log_path: Path, step: int) -> None:
    """Remove the lines of ``log.jsonl`` past ``step`` (logged after the checkpoint a run resumes from) and any
    half-written line, so the resumed run logs each step once."""
    if not log_path.exists():
        return
    lines = log_path.read_text().splitlines()
    kept = [line for line in lines if logged_step(line) is not None and logged_step(line) <= step]
    if kept != lines:
        atomic_write_bytes(log_path, "".join(line + "\n" for line in kept).encode())


def logged_step(line: str) -> int | None:
    """The step of a log line, None for a line that is not a whole record."""
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def make_scheduler(optimizer, train: TrainConfig, total_steps: int):
    if train.schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train.lr, total_steps=max(total_steps, 1),
                                                   pct_start=0.4, div_factor=10.0, final_div_factor=100.0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))


def optimization_step(forward, model: FusionDetector, optimizer, scaler, batch, boxes, labels, grad_clip: float,
                      use_amp: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One forward (fp16 autocast when ``use_amp``), loss, scaled backward, clipping and optimizer update.

    ``forward`` is the model or its DDP wrapper; inputs are on the model's device. Returns the losses and the
    gradient norm before clipping.
    """
    with torch.autocast(batch.points.device.type, dtype=torch.float16, enabled=use_amp):
        output = forward(batch)
    losses = model.loss(output, batch, boxes, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(losses["total"]).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return losses, grad_norm


class Trainer:
    """Owns the model, optimizer, data and checkpoints of one training run in ``out_dir``."""

    def __init__(self, config: DetectorConfig, train: TrainConfig, out_dir: str | Path, device: str | None = None,
                 context: DistributedContext | None = None):
        self.config, self.train, self.out_dir = config, train, check_writable_folder(out_dir)
        self.ctx = context or setup(device)
        torch.manual_seed(train.seed)
        np.random.seed(train.seed)
        self.dataset = FrameDataset(config, train.dataroot, train.version, train.train_split, train.augment,
                                    train.seed)
        if not len(self.dataset):
            raise DataError(f"training split '{train.train_split}' (train.train_split) has no keyframes",
                            train.dataroot)
        self.sampler = EpochSampler(len(self.dataset), train.seed, self.ctx.rank, self.ctx.world_size)
        self.steps_per_epoch = max(1, len(self.sampler) // train.batch_size)
        self.total_steps = self.steps_per_epoch * train.epochs
        self.model = FusionDetector(config).to(self.ctx.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, train, self.total_steps)
        self.use_amp = train.amp and self.ctx.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.step, self.epoch = 0, 0
        self.last_checkpoint: tuple[int, str] | None = None  # (step, file name) of the newest checkpoint written
        self.ddp = (DistributedDataParallel(self.model, find_unused_parameters=True,  # a dropped modality has no grad
                                            device_ids=[self.ctx.device.index] if self.ctx.device.type == "cuda"
                                            else None) if self.ctx.world_size > 1 else self.model)

    def resume(self) -> bool:
        """Continue from ``out_dir``'s latest checkpoint if there is one; True when resumed."""
        if not (self.out_dir / "latest.json").exists():
            return False
        sidecar, meta, tensors = read_checkpoint(self.out_dir)
        # settings added since the run started count at their defaults
        saved_train = meta.get("train_config")
        saved = {"model": to_dict(from_dict(DetectorConfig, meta["config"], str(sidecar))),
                 "train": to_dict(from_dict(TrainConfig, saved_train, str(sidecar))) if saved_train else None}
        current = {"model": to_dict(self.config), "train": to_dict(self.train) if saved["train"] else None}
        differences = config_differences(saved, current)
        if differences:
            raise DataError(f"this run was trained with another config ({'; '.join(differences)}); resume with the "
                            f"config it was trained with, or train into a new --out", sidecar)
        self.model.load_state_dict(model_state(tensors))
        checkpoint.restore_optimizer(self.optimizer, {k: v.to(self.ctx.device) for k, v in tensors.items()},
                                     meta["optimizer"])
        self.scheduler.load_state_dict(meta["scheduler"])
        self.scaler.load_state_dict(meta["scaler"])
        checkpoint.restore_rng(tensors, meta["rng"])
        self.step, self.epoch = meta["step"], meta["epoch"]
        self.last_checkpoint = (self.step, sidecar.name)
        if self.ctx.is_main:
            drop_log_after(self.out_dir / "log.jsonl", self.step)
        return True

    def save(self) -> None:
        self.last_checkpoint = (self.step, checkpoint.checkpoint_name(self.step) + ".json")
        if self.ctx.is_main:
            checkpoint.save_checkpoint(self.out_dir, self.step, self.epoch, self.model, to_dict(self.config),
                                       list(self.config.classes), self.optimizer, self.scheduler, self.scaler,
                                       train_config=to_dict(self.train))

    def train_step(self, batch, boxes, labels) -> dict[str, float]:
        device = self.ctx.device
        batch = batch.to(device)
        boxes, labels = [b.to(device) for b in boxes], [lab.to(device) for lab in labels]
        losses, grad_norm = optimization_step(self.ddp, self.model, self.optimizer, self.scaler, batch, boxes, labels,
                                              self.train.grad_clip, self.use_amp)
        self.scheduler.step()
        self.step += 1
        logged = {k: float(average(v.detach())) for k, v in losses.items()}
        logged["grad_norm"] = float(grad_norm)
        return logged

    def diverged(self, loss: float) -> DataError:
        """The error that stops a run whose loss became ``loss`` (nan or inf) at the current step."""
        kept = "no checkpoint was written before it" if self.last_checkpoint is None else \
            f"the last good checkpoint, {self.last_checkpoint[1]} (step {self.last_checkpoint[0]}), is kept"
        return DataError(f"training stopped: the loss became {loss} at step {self.step}; {kept} (a lower lr or "
                         f"grad_clip may help)", self.out_dir)

    def loader(self) -> DataLoader:
        skip = (self.step - self.epoch * self.steps_per_epoch) * self.train.batch_size
        self.sampler.set_position(self.epoch, skip)
        self.dataset.epoch = self.epoch
        return DataLoader(self.dataset, batch_size=self.train.batch_size, sampler=self.sampler,
                          num_workers=self.train.num_workers, collate_fn=collate_training, drop_last=True,
                          pin_memory=self.ctx.device.type == "cuda")

    def fit(self, max_steps: int | None = None, progress: bool = True) -> list[dict]:
        """Train until the configured epochs (or ``max_steps`` more steps); returns the logged records."""
        self.model.train()
        stop_at = self.total_steps if max_steps is None else min(self.total_steps, self.step + max_steps)
        bar = tqdm(total=stop_at, initial=self.step, unit="step", desc="train",
                   disable=not (progress and self.ctx.is_main))
        try:
            return self._train_until(stop_at, bar)
        finally:
            bar.close()  # also on an error, so its message starts a line of its own

    def _train_until(self, stop_at: int, bar: tqdm) -> list[dict]:
        """Steps up to ``stop_at``, logging and checkpointing on the way; returns the logged records."""
        log_path, records = self.out_dir / "log.jsonl", []
        while self.step < stop_at:
            tick = time.perf_counter()
            for batch, boxes, labels in self.loader():
                logged = self.train_step(batch, boxes, labels)
                if not math.isfinite(logged["total"]):
                    raise self.diverged(logged["total"])
                rate = self.train.batch_size * self.ctx.world_size / (time.perf_counter() - tick)
                tick = time.perf_counter()
                record = {"step": self.step, "epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0],
                          "samples_per_s": round(rate, 3), **{k: round(v, 5) for k, v in logged.items()}}
                records.append(record)
                bar.update()
                bar.set_postfix(loss=f"{logged['total']:.3f}", rate=f"{rate:.1f}/s")
                if self.ctx.is_main and (self.step % self.train.log_every == 0 or self.step == stop_at):
                    with log_path.open("a") as log:
                        log.write(json.dumps(record) + "\n")
                if self.step % self.steps_per_epoch == 0:
                    self.epoch += 1
                if self.step % self.train.checkpoint_every == 0 or self.step == stop_at \
                        or self.step % self.steps_per_epoch == 0:
                    self.save()
                if self.step >= stop_at:
                    break
        return records


def start_from_weights(model: FusionDetector, train_config: TrainConfig, verbose: bool) -> None:
    """A new run's starting weights: ``train.init_from``'s, then ``train.init_camera_from``'s camera branch."""
    if train_config.init_from:
        with naming_key("init_from"):
            grown, fresh, left_out = checkpoint.initial_weights(model, train_config.init_from)
        if verbose:
            print(f"started from {train_config.init_from}: {len(grown)} tensors with new input channels (zero), "
                  f"{len(fresh)} new tensors, {len(left_out)} tensors of a branch this model lacks left out")
    if train_config.init_camera_from:
        with naming_key("init_camera_from"):
            loaded = checkpoint.branch_weights(model, train_config.init_camera_from, "camera")
        if verbose:
            print(f"camera branch from {train_config.init_camera_from}: {len(loaded)} tensors")


@contextlib.contextmanager
def naming_key(key: str):
    """A DataError raised inside names the ``train`` key whose weights caused it."""
    try:
        yield
    except DataError as error:
        raise DataError(f"train.{key}: {error.reason}", error.path) from None


def train(config: DetectorConfig, train_config: TrainConfig, out_dir: str | Path, device: str | None = None,
          max_steps: int | None = None, progress: bool = True) -> list[dict]:
    """Train (resuming from ``out_dir`` when it has a checkpoint)."""
    trainer = Trainer(config, train_config, out_dir, device)
    try:
        if trainer.resume():
            if trainer.ctx.is_main:
                print(f"resumed from step {trainer.step} ({trainer.last_checkpoint[1]} in {out_dir})")
        else:
            start_from_weights(trainer.model, train_config, trainer.ctx.is_main)
        return trainer.fit(max_steps, progress)
    finally:
        teardown()
