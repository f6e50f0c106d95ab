"""The Triton BEV pooling kernels equal the torch implementation, values and gradients, in fp32/bf16/fp16."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

PARITY = Path(__file__).with_name("bev_pool_parity.py")
ROOT = Path(__file__).resolve().parents[1]


def run_parity(device: str, interpret: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if interpret:
        env["TRITON_INTERPRET"] = "1"  # must be set before triton is imported, hence a fresh process
    return subprocess.run([sys.executable, str(PARITY), device], capture_output=True, text=True, env=env,
                          timeout=600)


def test_triton_kernels_match_torch_under_the_cpu_interpreter():
    result = run_parity("cpu", interpret=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert result.stdout.count("torch.") == 12  # 2 designs × 2 run-length regimes × 3 dtypes


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_triton_kernels_match_torch_on_cuda():
    result = run_parity("cuda", interpret=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_use_the_triton_kernels(triton_pool_calls):
    from perception.ops.bev_pool import bev_pool, compute_bev_pool_geometry
    from perception.ops.grid import BEVGrid

    geometry = compute_bev_pool_geometry(torch.rand(1, 1, 2, 2, 2, 3, device="cuda"), BEVGrid((0, 1), (0, 1),
                                                                                            (0, 1), 0.5))
    bev_pool(torch.rand(1, 1, 2, 2, 2, device="cuda"), torch.rand(1, 1, 4, 2, 2, device="cuda"), geometry)
    assert triton_pool_calls == [1]
