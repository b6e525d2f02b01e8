"""Training loop for the element detector.

Phases of one step, in order: learning rate (linear warm-up, cosine decay), batch, forward (optionally
under bf16 autocast) with the transformers loss plus the dense proposal loss (`vision.detector.dense`),
backward, gradient clipping, AdamW step, EMA update, log, checkpoint, periodic evaluation.

A run directory holds:
    checkpoint.pt   model, EMA, optimiser, step, both configs (rewritten atomically every few minutes)
    log.jsonl       one JSON object per logged step ({"step", "loss", "lr", ...}) or evaluation
                    ({"step", "eval": {...}}); plot it with any JSONL reader
    last/           EMA weights at the last checkpoint (fp16 safetensors + config.json)
    best/           EMA weights with the best validation mAP@0.5 so far

Rerunning with the same run directory resumes from ``checkpoint.pt``. Under ``torchrun`` each process
trains on its own batches and gradients are averaged with DDP (gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agent.errors import DeskpilotError
from vision.data import Augment, CocoDetection, StepSampler, collate
from vision.detector.configuration import DetectorConfig
from vision.detector.dense import DENSE_KEYS, dense_loss
from vision.detector.modeling import Detector

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


@dataclass
class TrainConfig:
    """Options of a training run (saved in the checkpoint; a resumed run keeps its schedule)."""

    data: str = "data/detection/train"
    val: str | None = "data/detection/val"
    out: str = "runs/detector"
    steps: int = 20000
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    grad_clip: float = 0.1
    ema_decay: float = 0.999
    # Weight of the dense one-to-many loss on the encoder's proposals (vision/detector/dense.py); 0 = off.
    dense_weight: float = 1.0
    # Repeat-factor sampling threshold (`CocoDetection.repeat_factors`): images with rare classes are
    # drawn more often. 0 draws images uniformly.
    repeat_threshold: float = 0.3
    # bf16 autocast is off by default: on this 2-core CPU (no native bf16) a batch-4 step took 23.2 s with
    # it and 13.9 s without, because bf16 convolution backward is ~6× slower than fp32 (torch profiler).
    bf16: bool = False
    device: str = "cpu"
    threads: int = 2
    workers: int = 1
    seed: int = 0
    log_every: int = 10
    checkpoint_minutes: float = 5.0
    eval_minutes: float = 20.0
    eval_images: int = 100
    max_minutes: float | None = None
    augment: bool = True
    # The detector's tile (w, h): training crops and inference windows (vision/detector/tiling.py).
    # None keeps the detector config's; (0, 0) turns tiles off (whole letterboxed screens).
    tile: tuple[int, int] | None = None
    # A fresh run may start from shipped weights (a weights folder such as weights/detector): the model
    # and its EMA take them, the optimiser and schedule start anew. Ignored when resuming a checkpoint.
    init_from: str = ""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


class EMA:
    """Exponential moving average of a model's floating-point state (parameters and buffers).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so early averages are not dominated by the
    random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        src = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.is_floating_point():
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)
            else:
                v.copy_(src[k])


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # No decay on norms, biases and the denoising label table (standard DETR/Swin practice).
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lowered = name.lower()
        if p.ndim <= 1 or "norm" in lowered or "denoising_class_embed" in lowered:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Dist:
    """torchrun environment: rank, world size; a no-op when not launched by torchrun."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def train(
    cfg: TrainConfig, detector_config: DetectorConfig | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Train (or resume) a detector; returns a summary {"step", "loss", "best_map50", "out"}.

    ``detector_config`` only matters for a fresh run; a resumed run uses the checkpoint's config.
    """
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise DeskpilotError("--device cuda was asked for but torch sees no CUDA device")
    dist = _Dist(cfg.device)
    device = torch.device(f"cuda:{dist.local_rank}" if cfg.device == "cuda" else "cpu")
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT

    state = None
    init = None
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        saved_train, saved_detector = _upgrade(state["train_config"], state["detector_config"])
        detector_config = DetectorConfig.from_dict(saved_detector)
        cfg = TrainConfig(**{**saved_train, **_overrides(cfg)})
    elif cfg.init_from:
        # Warm start: the weights folder's config is the architecture.
        if detector_config is not None:
            raise DeskpilotError(
                "give either a detector config or --init-from (whose config it uses), not both"
            )
        init = Detector.load(cfg.init_from)
        detector_config = init.config
    detector_config = detector_config or DetectorConfig()
    if cfg.tile is not None:
        detector_config = dataclasses.replace(
            detector_config, tile_width=cfg.tile[0], tile_height=cfg.tile[1]
        )
    torch.manual_seed(cfg.seed + dist.rank)

    model = Detector(detector_config)
    if init is not None:
        model.load_state(init.state_dict(), source=str(Path(cfg.init_from)))
        del init
    model = model.to(device)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999))
    step, best_map50, trained_s = 0, -1.0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.model.load_state_dict(state["ema"])
            ema.updates = state.get("ema_updates", state["step"])
        step, best_map50, trained_s = (
            state["step"],
            state.get("best_map50", -1.0),
            state.get("trained_s", 0.0),
        )
        del state
    if ema is not None:
        ema.model.to(device)

    train_model: nn.Module = model
    if dist.world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )

    dataset = CocoDetection(cfg.data, detector_config.classes, detector_config.input_size,
                            detector_config.image_mean, detector_config.image_std,
                            augment=Augment() if cfg.augment else None, seed=cfg.seed,
                            crop_size=detector_config.tile_size, ui_scale=detector_config.ui_scale)  # fmt: skip
    sampler = StepSampler(len(dataset), cfg.batch_size, cfg.steps, start=step, seed=cfg.seed, rank=dist.rank,
                          weights=dataset.repeat_factors(cfg.repeat_threshold))  # fmt: skip
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.workers,
        persistent_workers=False, prefetch_factor=2 if cfg.workers > 0 else None,
    )  # fmt: skip

    log_path = out / LOG
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.bf16 else contextlib.nullcontext()
    progress = _progress(quiet or not dist.main)
    task = progress.add_task("train detector", total=cfg.steps, completed=step)
    last_ckpt = last_eval = time.monotonic()
    started = time.monotonic()
    window: list[float] = []
    parts: dict[str, float] = {}
    loss_value = float("nan")

    def save_checkpoint() -> None:
        nonlocal trained_s
        if not dist.main:
            return
        _atomic_save({
            "model": model.state_dict(), "ema": ema.model.state_dict() if ema else None,
            "ema_updates": ema.updates if ema else 0, "optimizer": optimizer.state_dict(), "step": step,
            "best_map50": best_map50, "trained_s": trained_s + time.monotonic() - started,
            "detector_config": detector_config.to_dict(), "train_config": asdict(cfg),
        }, ckpt_path)  # fmt: skip
        (ema.model if ema else model).save(out / "last")

    def run_eval() -> None:
        nonlocal best_map50
        if not (dist.main and cfg.val and Path(cfg.val).is_dir()):
            return
        from vision.evaluate import evaluate_folder

        judged = ema.model if ema else model
        metrics = evaluate_folder(judged, cfg.val, max_images=cfg.eval_images, bf16=cfg.bf16)
        _log(log_path, {"step": step, "time": round(time.time(), 1), "eval": metrics})
        if metrics["map50"] > best_map50:
            best_map50 = metrics["map50"]
            judged.save(out / "best")
        progress.console.log(f"step {step}: mAP@0.5 {metrics['map50']:.3f}, mAP {metrics['map']:.3f}")

    with progress:
        model.train()
        for pixels, targets in loader:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            pixels = pixels.to(device, non_blocking=True)
            labels = [
                {"class_labels": t["class_labels"].to(device), "boxes": t["boxes"].to(device)}
                for t in targets
            ]
            t0 = time.monotonic()
            with autocast:
                output = train_model(pixels, labels)
            loss = output.loss
            if cfg.dense_weight > 0:
                dense = dense_loss(output.enc_outputs_class, output.enc_outputs_coord_logits, labels,
                                   canvas=(pixels.shape[-1], pixels.shape[-2]))  # fmt: skip
                output.loss_dict.update(dense)
                loss = loss + cfg.dense_weight * sum(dense.values())
            if not torch.isfinite(loss):
                raise DeskpilotError(f"training diverged at step {step} (loss {loss.item()}); lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(model)
            step += 1
            loss_value = float(loss.item())
            window.append(loss_value)
            for k in ("loss_vfl", "loss_bbox", "loss_giou", *DENSE_KEYS):
                if k in output.loss_dict:
                    parts[k] = parts.get(k, 0.0) + float(output.loss_dict[k].detach())
            if dist.main and step % cfg.log_every == 0:
                n = len(window)
                record = {"step": step, "time": round(time.time(), 1), "loss": round(sum(window) / n, 5),
                          "lr": lr, "sec_per_step": round(time.monotonic() - t0, 3)}  # fmt: skip
                record.update({k: round(v / n, 5) for k, v in parts.items()})
                _log(log_path, record)
                window.clear()
                parts.clear()
            progress.update(task, completed=step, description=f"train detector loss {loss_value:.3f}")
            now = time.monotonic()
            if now - last_ckpt >= cfg.checkpoint_minutes * 60:
                save_checkpoint()
                last_ckpt = now
            if cfg.eval_minutes > 0 and now - last_eval >= cfg.eval_minutes * 60:
                run_eval()
                last_eval = time.monotonic()
            if cfg.max_minutes is not None and now - started >= cfg.max_minutes * 60:
                break
    save_checkpoint()
    dist.close()
    return {"step": step, "loss": loss_value, "best_map50": best_map50, "out": str(out)}


#: Fields a resumed run always takes from the command: where things are and how the machine is used.
_MACHINE_FIELDS = ("data", "val", "out", "device", "threads", "workers", "log_every", "checkpoint_minutes",
                   "eval_minutes", "eval_images", "max_minutes", "steps", "bf16")  # fmt: skip
#: Recipe fields a resumed run may change when asked to (e.g. a lower peak lr for a run whose loss climbs).
RESUMABLE_RECIPE = ("lr", "batch_size", "ema_decay", "dense_weight", "tile", "repeat_threshold")


def _upgrade(train_config: dict[str, Any], detector_config: dict[str, Any]) -> tuple[dict, dict]:
    """Checkpoints from before tiles kept the crop size in the training options (``crop``); it is the
    detector's tile now (the weights were trained on it)."""
    train_config, detector_config = dict(train_config), dict(detector_config)
    if "crop" in train_config:
        crop = train_config.pop("crop")
        if "tile_width" not in detector_config:
            detector_config["tile_width"], detector_config["tile_height"] = tuple(crop) if crop else (0, 0)
    return train_config, detector_config


def _overrides(cfg: TrainConfig) -> dict[str, Any]:
    """What a resumed run takes from ``cfg`` rather than from its checkpoint: the machine fields, and
    the recipe fields in ``cfg.given`` (the CLI sets it to the options actually typed; a TrainConfig
    built in code without it overrides all of them). The rest of the recipe stays the checkpoint's."""
    out = {k: getattr(cfg, k) for k in _MACHINE_FIELDS}
    given = getattr(cfg, "given", RESUMABLE_RECIPE)
    out.update({k: getattr(cfg, k) for k in RESUMABLE_RECIPE if k in given})
    return out


def _progress(disable: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), disable=disable,
    )  # fmt: skip
