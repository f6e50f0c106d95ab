#!/usr/bin/env bash
# Every GPU figure the docs ask for, in one run on a CUDA machine (about 5 minutes on a current data-centre GPU):
#   1. the GPU tests: Triton BEV pooling equals the torch op (fp32/bf16/fp16, values and gradients), CUDA tensors
#      take the Triton path, and a training step of the nuScenes-scale config runs with it;
#   2. `perception bench` of nuscenes_fusion_r50.yaml (inference per stage with bf16 autocast, training steps,
#      BEV pooling and voxelization kernels) and of demo.yaml.
# Needs no dataset. Usage: bash tools/gpu_check.sh [OUT_DIR]; PYTHON=... picks an interpreter other than .venv's
# (its environment needs torch with CUDA, triton, numpy, opencv, pyyaml, safetensors, tqdm and pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-outputs/gpu-check}"
python="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$python" -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__)"
} | tee "$out/device.txt"

status=0
"$python" -m pytest -q -m gpu tests/test_bev_pool_triton.py tests/test_bench.py \
    tests/test_sparse_encoder.py 2>&1 | tee "$out/pytest-gpu.txt" \
    || status=1
"$python" -m perception.cli bench configs/nuscenes_fusion_r50.yaml --device cuda --amp --frames 200 --warmup 20 \
    --train-steps 30 --out "$out/bench-r50" || status=1
"$python" -m perception.cli bench configs/demo.yaml --device cuda --amp --frames 200 --warmup 20 \
    --points 130000 --train-steps 100 --no-kernels --out "$out/bench-demo" || status=1
echo "results: $out (device.txt, pytest-gpu.txt, bench-r50/bench.md, bench-demo/bench.md); exit status $status"
exit "$status"
