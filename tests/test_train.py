"""Training: a 2-process gloo torchrun step, resume after a real kill, checkpoints."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from perception.errors import DataError
from perception.inference.weights import load_checkpoint, load_model
from perception.train.checkpoint import save_checkpoint
from perception.train.trainer import Trainer
from perception.typed_config import to_dict
from tests.model_configs import tiny_config, tiny_train_config

VENV_BIN = Path(sys.executable).parent


def write_config(config, train, path: Path) -> Path:
    """One YAML file with the model's sections and the ``train`` section, as in configs/."""
    path.write_text(yaml.safe_dump({**to_dict(config), "train": to_dict(train)}, sort_keys=False))
    return path


def read_log(run: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())}


@pytest.fixture
def config():
    return tiny_config()


@pytest.fixture
def train(synth_root):
    return tiny_train_config(synth_root, train_split="synth_all", epochs=4, lr=1e-3)


def test_resume_after_kill_gives_identical_next_step(config, train, tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen([str(VENV_BIN / "perception"), "train", str(write_config(config, train, tmp_path / "c.yaml")),
                                "--out", str(killed), "--device", "cpu"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        latest = killed / "latest.json"
        if latest.exists() and json.loads((killed / json.loads(latest.read_text())["checkpoint"]).read_text())["step"] >= 4:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = Trainer(config, train, killed, "cpu")
    assert resumed.resume()
    start = resumed.step
    assert start >= 4 and start < resumed.total_steps
    next_loss = resumed.fit(max_steps=1, progress=False)[0]["total"]

    reference = Trainer(config, train, tmp_path / "reference", "cpu").fit(max_steps=start + 1, progress=False)
    assert reference[-1]["step"] == start + 1
    assert next_loss == pytest.approx(reference[-1]["total"], rel=1e-6, abs=1e-7)


def test_two_process_gloo_torchrun_step(config, train, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "perception.cli",
                             "train", str(write_config(config, train, tmp_path / "c.yaml")), "--out", str(run),
                             "--max-steps", "2", "--device", "cpu"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = read_log(run)
    assert sorted(log) == [1, 2] and all(torch.isfinite(torch.tensor(r["total"])) for r in log.values())
    meta, _ = load_checkpoint(run)
    assert meta["step"] == 2


def test_checkpoint_round_trip_and_corruption(config, tmp_path):
    from perception.models.detector import FusionDetector

    model = FusionDetector(config)
    save_checkpoint(tmp_path, 7, 1, model, to_dict(config), list(config.classes))
    loaded, loaded_config = load_model(tmp_path)
    assert loaded_config == config
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)
    tensors = next(tmp_path.glob("*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:-10])
    with pytest.raises(DataError, match="corrupt"):
        load_checkpoint(tmp_path)
