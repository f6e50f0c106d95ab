"""``perception bench``: latency per stage, FPS and peak memory of a detector config, and kernel micro-benchmarks.

Every figure is a percentile over repeated runs after warm-up, timed with CUDA synchronisation on GPU. Inputs are
random tensors with the shapes of a real frame (the rig of ``configs/rigs/nuscenes.yaml``, images at the config's
input size, a lidar cloud of ``--points`` points spread over the BEV range), so the benchmark needs no dataset.
"""
from __future__ import annotations

import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from calib import load_rig
from calib.atomic import atomic_write_bytes
from perception.data.preprocess import resize_crop, undo_resize_crop
from perception.models.camera.lift import depth_bin_centres, frustum_grid, frustum_to_ego
from perception.models.config import DetectorConfig
from perception.models.detector import FusionDetector
from perception.models.inputs import DetectorInput
from perception.ops.bev_pool import bev_pool, compute_bev_pool_geometry
from perception.ops.grid import BEVGrid
from perception.ops.voxelize import voxelize

RIG = Path(__file__).resolve().parents[1] / "configs" / "rigs" / "nuscenes.yaml"
STAGES = ("camera", "camera_to_bev", "lidar", "lidar_to_bev", "fuser", "decoder", "head")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {"p50": round(float(np.percentile(values, 50)), 4), "p95": round(float(np.percentile(values, 95)), 4),
            "mean": round(float(values.mean()), 4), "runs": len(values)}


def time_ms(fn, device: torch.device, warmup: int, repeats: int) -> dict[str, float]:
    """Percentiles of ``fn()``'s wall time in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return percentiles(samples)


def rig_tensors(input_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """intrinsics (1, N, 3, 3), ego_from_camera (1, N, 4, 4) and image_from_input (1, N, 3, 3) of the nuScenes rig
    with images resized to the input width and cropped from the bottom, as preprocessing does."""
    cameras = list(load_rig(RIG).cameras.values())
    scale, crop_x, crop_y = resize_crop((cameras[0].height, cameras[0].width), input_hw)
    pixel_map = torch.from_numpy(undo_resize_crop(scale, crop_x, crop_y)).float()
    return (torch.from_numpy(np.stack([c.intrinsics for c in cameras])).float()[None],
            torch.from_numpy(np.stack([c.ego_from_camera for c in cameras])).float()[None],
            pixel_map.expand(1, len(cameras), 3, 3).clone())


def random_frame(config: DetectorConfig, device: torch.device, num_points: int, seed: int = 0) -> DetectorInput:
    """A batch of one frame with the nuScenes rig, random images and ``num_points`` lidar points in range from 10
    sweeps."""
    generator = torch.Generator().manual_seed(seed)
    intrinsics, ego_from_camera, image_from_input = rig_tensors(config.camera.image_size)
    cameras = intrinsics.shape[1]
    height, width = config.camera.image_size
    low = torch.tensor([config.bev.x_range[0], config.bev.y_range[0], -2.0, 0.0])
    span = torch.tensor([config.bev.x_range[1] - config.bev.x_range[0], config.bev.y_range[1] - config.bev.y_range[0],
                         3.0, 255.0])
    sweep_age = torch.randint(0, 10, (num_points, 1), generator=generator) * 0.05  # 10 sweeps at 20 Hz
    return DetectorInput(
        batch_size=1, points=torch.cat([torch.rand(num_points, 4, generator=generator) * span + low, sweep_age], 1),
        point_batch=torch.zeros(num_points, dtype=torch.long), bev_aug=torch.eye(4)[None],
        images=torch.randn(1, cameras, 3, height, width, generator=generator), intrinsics=intrinsics,
        ego_from_camera=ego_from_camera, image_from_input=image_from_input,
        camera_valid=torch.ones(1, cameras, dtype=torch.bool)).to(device)


class StageTimer:
    """Wall time of each top-level stage of a detector, from forward hooks (synchronising on GPU)."""

    def __init__(self, model: FusionDetector, device: torch.device):
        self.device, self.samples, self.starts = device, {}, {}
        for name in STAGES:
            module = getattr(model, name, None)
            if module is not None:
                module.register_forward_pre_hook(lambda m, a, name=name: self.start(name))
                module.register_forward_hook(lambda m, a, o, name=name: self.stop(name))

    def start(self, name: str) -> None:
        synchronize(self.device)
        self.starts[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        synchronize(self.device)
        self.samples.setdefault(name, []).append((time.perf_counter() - self.starts[name]) * 1e3)

    def reset(self) -> None:
        self.samples = {}


def bench_model(config: DetectorConfig, device: torch.device, frames: int, warmup: int, num_points: int,
                amp: bool) -> dict:
    """Per-stage and end-to-end latency (voxelization, pooling, decode and NMS included), FPS, peak memory."""
    model = FusionDetector(config).to(device).eval()
    timer = StageTimer(model, device)
    batch = random_frame(config, device, num_points)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()

    def run():
        with torch.no_grad(), autocast:
            model.predict(batch)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        run()
    timer.reset()
    total = time_ms(run, device, 0, frames)
    stages = {name: percentiles(samples) for name, samples in timer.samples.items()}  # of the timed frames only
    with torch.no_grad(), autocast:
        output = model(batch)
    decode_ms = time_ms(lambda: model.decode(output), device, warmup, frames)
    result = {"end_to_end_ms": total, "fps": round(1e3 / total["p50"], 2),
              "stages_ms": stages | {"decode_and_nms": decode_ms},
              "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2), "amp_bf16": amp,
              "points": num_points}
    if device.type == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
    return result


def random_boxes(config: DetectorConfig, device: torch.device, count: int = 40, seed: int = 0):
    """GT boxes (count, 9) of car size spread over the BEV range, with moving and still ones, and their labels."""
    generator = torch.Generator().manual_seed(seed)
    half = min(config.bev.x_range[1], config.bev.y_range[1]) * 0.9
    centres = (torch.rand(count, 2, generator=generator) * 2 - 1) * half
    boxes = torch.cat([centres, torch.full((count, 1), -1.0), torch.tensor([4.5, 1.9, 1.7]).expand(count, 3),
                       torch.rand(count, 1, generator=generator) * 6.28 - 3.14,
                       torch.randn(count, 2, generator=generator) * 3], dim=1)
    labels = torch.randint(0, len(config.classes), (count,), generator=generator)
    return [boxes.to(device)], [labels.to(device)]


def bench_train_step(config: DetectorConfig, device: torch.device, steps: int, warmup: int, num_points: int) -> dict:
    """One training step (forward, losses incl. depth supervision, backward, AdamW update) of batch 1, with
    the trainer's precision: fp16 autocast with loss scaling on GPU when the config asks for AMP."""
    from perception.train.trainer import optimization_step

    model = FusionDetector(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    use_amp = config.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    batch = random_frame(config, device, num_points)
    boxes, labels = random_boxes(config, device)
    losses = []

    def step():
        step_losses, _ = optimization_step(model, model, optimizer, scaler, batch, boxes, labels,
                                           config.train.grad_clip, use_amp)
        losses.append(step_losses["total"].item())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = {"step_ms": time_ms(step, device, warmup, steps), "amp_fp16": use_amp,
              "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4)}
    if device.type == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
    return result


def plain_index_add_pool(depth: torch.Tensor, context: torch.Tensor, geometry) -> torch.Tensor:
    """The common plain-torch baseline: materialise every depth × context product, then ``index_add_``."""
    batch, cameras, channels = context.shape[:3]
    ny, nx = geometry.grid_shape
    features = context.permute(0, 1, 3, 4, 2).reshape(-1, channels)[geometry.context_index]
    products = features * depth.reshape(-1)[geometry.depth_index][:, None]
    out = products.new_zeros(batch * ny * nx, channels).index_add_(0, geometry.cell_index, products)
    return out.view(batch, ny, nx, channels).permute(0, 3, 1, 2)


def bench_bev_pool(device: torch.device, dtype: torch.dtype, warmup: int, repeats: int) -> dict:
    """nuScenes-scale camera → BEV pooling: 6 cameras, 118 depth bins, 32×88 features, 80 channels, 360×360 BEV."""
    generator = torch.Generator().manual_seed(0)
    shape, channels = (1, 6, 118, 32, 88), 80
    grid = BEVGrid((-54.0, 54.0), (-54.0, 54.0), (-10.0, 10.0), 0.3)
    frustum = frustum_grid((256, 704), 8, depth_bin_centres((1.0, 60.0, 0.5)))
    xyz = frustum_to_ego(frustum, *rig_tensors((256, 704)), torch.eye(4)[None])
    geometry_ms = time_ms(lambda: compute_bev_pool_geometry(xyz.to(device), grid), device, 1, 5)
    geometry = compute_bev_pool_geometry(xyz.to(device), grid)
    depth = torch.rand(shape, generator=generator).softmax(2).to(device, dtype).requires_grad_()
    context = torch.randn(1, 6, channels, 32, 88, generator=generator).to(device, dtype).requires_grad_()
    implementations = {"plain torch index_add_": lambda: plain_index_add_pool(depth, context, geometry),
                       "torch, chunked (CPU default)": lambda: bev_pool(depth, context, geometry,
                                                                          implementation="torch")}
    if device.type == "cuda":
        implementations["triton, intervals (BEVPoolv2-style baseline)"] = lambda: bev_pool(
            depth, context, geometry, implementation="triton_intervals")
        implementations["triton, segmented (GPU default)"] = lambda: bev_pool(depth, context, geometry,
                                                                              implementation="triton")
    result = {"points_kept": geometry.num_points, "cells_written": int(geometry.starts.numel()),
              "geometry_ms": geometry_ms, "dtype": str(dtype).removeprefix("torch.")}
    for name, pool in implementations.items():
        def forward_backward():
            out = pool()
            torch.autograd.grad(out.float().sum(), [depth, context])
        with torch.no_grad():
            forward = time_ms(pool, device, warmup, repeats)
        result[name] = {"forward_ms": forward, "forward_backward_ms": time_ms(forward_backward, device, warmup,
                                                                              repeats)}
    # The DRAM bound: read depth and context once, write the BEV map once.
    bytes_moved = (depth.numel() + context.numel()) * depth.element_size() + channels * grid.nx * grid.ny * 4
    result["dram_bytes"] = bytes_moved
    return result


def bench_voxelize(device: torch.device, num_points: int, warmup: int, repeats: int) -> dict:
    """Dynamic pillar voxelization of ``num_points`` points (10 nuScenes sweeps ≈ 300k) on a 0.3 m grid."""
    grid = BEVGrid((-54.0, 54.0), (-54.0, 54.0), (-5.0, 3.0), 0.3)
    generator = torch.Generator().manual_seed(0)
    points = (torch.rand(num_points, 5, generator=generator) * torch.tensor([108.0, 108, 8, 255, 0.5])
              + torch.tensor([-54.0, -54, -5, 0, 0])).to(device)
    batch_index = torch.zeros(num_points, dtype=torch.long, device=device)
    return {"points": num_points, "ms": time_ms(lambda: voxelize(points, batch_index, grid), device, warmup, repeats)}


def run_benchmarks(config: DetectorConfig, config_name: str, device: torch.device, frames: int, warmup: int,
                   num_points: int, amp: bool, kernels: bool, train_steps: int = 0) -> dict:
    report = {"config": config_name, "device": device_name(device), "torch": torch.__version__,
              "model": bench_model(config, device, frames, warmup, num_points, amp)}
    if train_steps:
        report["train_step"] = bench_train_step(config, device, train_steps, min(warmup, train_steps), num_points)
    if kernels:
        report["bev_pool"] = {str(dtype).removeprefix("torch."): bench_bev_pool(device, dtype, warmup, frames)
                              for dtype in ((torch.float32, torch.bfloat16) if device.type == "cuda"
                                            else (torch.float32,))}
        report["voxelize"] = bench_voxelize(device, 300_000, warmup, frames)
    return report


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def report_markdown(report: dict) -> str:
    model = report["model"]
    lines = [f"# Benchmark: {report['config']} on {report['device']} (torch {report['torch']})", "",
             f"End to end (batch 1, bf16 autocast: {model['amp_bf16']}, {model['points']} points): "
             f"p50 {model['end_to_end_ms']['p50']:.2f} ms, p95 {model['end_to_end_ms']['p95']:.2f} ms, "
             f"{model['fps']} FPS" + (f", peak memory {model['peak_memory_gb']} GB" if "peak_memory_gb" in model
                                      else ""), "", "| stage | p50 (ms) | p95 (ms) |", "|---|---|---|"]
    lines += [f"| {name} | {v['p50']:.3f} | {v['p95']:.3f} |" for name, v in model["stages_ms"].items()]
    if "train_step" in report:
        train = report["train_step"]
        lines += ["", f"Training step (batch 1, fp16 AMP: {train['amp_fp16']}): p50 {train['step_ms']['p50']:.1f} ms, "
                      f"p95 {train['step_ms']['p95']:.1f} ms over {train['step_ms']['runs']} steps"
                      + (f", peak memory {train['peak_memory_gb']} GB" if "peak_memory_gb" in train else "")
                      + f"; loss {train['first_loss']} → {train['last_loss']} on one repeated random frame"]
    for dtype, pool in report.get("bev_pool", {}).items():
        lines += ["", f"BEV pooling, nuScenes scale ({dtype}, {pool['points_kept']} frustum points kept, "
                      f"geometry computed once: {pool['geometry_ms']['p50']:.2f} ms)", "",
                  "| implementation | forward p50 (ms) | forward+backward p50 (ms) |", "|---|---|---|"]
        lines += [f"| {name} | {v['forward_ms']['p50']:.3f} | {v['forward_backward_ms']['p50']:.3f} |"
                  for name, v in pool.items() if isinstance(v, dict) and "forward_ms" in v]
    if "voxelize" in report:
        lines += ["", f"Voxelization of {report['voxelize']['points']} points: "
                      f"p50 {report['voxelize']['ms']['p50']:.3f} ms"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> None:
    atomic_write_bytes(out / "bench.json", json.dumps(report, indent=1).encode())
    atomic_write_bytes(out / "bench.md", report_markdown(report).encode())
