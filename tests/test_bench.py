"""``perception bench`` produces its tables (tiny model, a few runs: the figures themselves live in docs)."""
import json

import torch

from perception.bench import bench_voxelize, report_markdown, run_benchmarks, write_report
from tests.model_configs import tiny_config


def test_model_benchmark_report(tmp_path):
    report = run_benchmarks(tiny_config(), "tiny", torch.device("cpu"), frames=3, warmup=1, num_points=5000,
                            amp=False, kernels=False)
    model = report["model"]
    assert model["end_to_end_ms"]["runs"] == 3 and model["fps"] > 0
    assert set(model["stages_ms"]) == {"camera", "camera_to_bev", "lidar", "lidar_to_bev", "fuser", "decoder",
                                       "head", "decode_and_nms"}
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "bench.json").read_text())["config"] == "tiny"
    markdown = (tmp_path / "bench.md").read_text()
    assert markdown == report_markdown(report) and "| decoder |" in markdown


def test_voxelize_benchmark():
    result = bench_voxelize(torch.device("cpu"), 20_000, warmup=1, repeats=3)
    assert result["points"] == 20_000 and result["ms"]["p50"] > 0
