"""``perception bench`` produces its tables (tiny model, a few runs: the figures themselves live in docs)."""
import json
import math
from pathlib import Path

import pytest
import torch

from perception.bench import bench_train_step, bench_voxelize, report_markdown, run_benchmarks, write_report
from perception.models.config import load_config
from tests.model_configs import tiny_config, tiny_train_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_model_benchmark_report(tmp_path):
    report = run_benchmarks(tiny_config(), "tiny", torch.device("cpu"), frames=3, warmup=1, num_points=5000,
                            amp=False, kernels=False, train_steps=4, train=tiny_train_config())
    for model in (report["model"], report["model_eager"]):  # optimised (what Detector runs) and eager
        latency = model["end_to_end_ms"]
        assert latency["runs"] == 3 and latency["p95"] >= latency["p50"] > 0
        assert model["fps"] == pytest.approx(1e3 / latency["p50"], abs=0.005)  # frames per second at the median
        assert all(stage["runs"] == 3 for stage in model["stages_ms"].values())
        assert set(model["stages_ms"]) == {"camera", "camera_to_bev", "lidar", "lidar_to_bev", "fuser", "decoder",
                                           "head", "decode_and_nms"}
    assert report["optimised_speedup"] > 0
    train = report["train_step"]
    assert train["step_ms"]["runs"] == 4 and train["last_loss"] < train["first_loss"]  # it trains on the frame
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "bench.json").read_text())["config"] == "tiny"
    markdown = (tmp_path / "bench.md").read_text()
    assert markdown == report_markdown(report) and "| decoder |" in markdown and "| **end to end** |" in markdown and "Training step" in markdown


def test_voxelize_benchmark():
    result = bench_voxelize(torch.device("cpu"), 20_000, warmup=1, repeats=3)
    assert result["points"] == 20_000 and result["ms"]["runs"] == 3
    assert result["ms"]["p95"] >= result["ms"]["p50"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_full_scale_training_step_on_cuda(triton_pool_calls):
    """The published-scale fused config trains on one GPU (fp16 AMP), pooling through the Triton kernels."""
    config = load_config(CONFIGS / "nuscenes_fusion_r50.yaml")
    result = bench_train_step(config, tiny_train_config(), torch.device("cuda"), steps=5, warmup=2, num_points=300_000)
    assert len(triton_pool_calls) == 7 and result["amp_fp16"]
    assert math.isfinite(result["last_loss"]) and result["last_loss"] < result["first_loss"]
    assert result["peak_memory_gb"] < 40
