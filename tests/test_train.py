"""Training: a 2-process gloo torchrun step, resume after a real kill, checkpoints."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError
from perception.inference.preprocess import collate, frame_to_sample
from perception.inference.weights import load_checkpoint, load_model
from perception.models.detector import FusionDetector
from perception.train import trainer as trainer_module
from perception.train.checkpoint import branch_weights, initial_weights, save_checkpoint
from perception.train.distributed import DistributedContext
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


def checkpoint_step(run: Path) -> int | None:
    """The step of ``run``'s latest complete checkpoint, or None while there is none."""
    try:
        return json.loads((run / json.loads((run / "latest.json").read_text())["checkpoint"]).read_text())["step"]
    except FileNotFoundError:  # not written yet, or pruned between the two reads by a newer checkpoint
        return None


def test_resume_after_kill_gives_identical_next_step(config, synth_root, tmp_path, single_thread):
    # 1000 epochs (3000 steps): still training when killed, however fast the machine. The child trains on one
    # thread like this process (single_thread), so both compute the same numbers.
    train = tiny_train_config(synth_root, train_split="synth_all", epochs=1000, lr=1e-3)
    killed, output = tmp_path / "killed", tmp_path / "train.log"
    with output.open("w") as log:
        process = subprocess.Popen([str(VENV_BIN / "perception"), "train",
                                    str(write_config(config, train, tmp_path / "c.yaml")), "--out", str(killed),
                                    "--device", "cpu"], stdout=log, stderr=log,
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 600  # generous for a slow machine; a fast one leaves the loop early
        while (step := checkpoint_step(killed)) is None or step < 4:
            assert process.poll() is None, f"training exited early: {output.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no checkpoint at step 4 or later within 600 s (latest: {step})"
            time.sleep(0.1)
    finally:
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


def two_rank_reference(config, train, tmp_path, monkeypatch, steps: int) -> tuple[list[list[float]], FusionDetector]:
    """What a 2-process run computes in its first ``steps`` steps, in this process: trainers for rank 0 and rank 1
    (each reads its own shard of every epoch), one shared model, the two ranks' gradients averaged as DDP does.
    Returns each step's total loss per rank, and the model after the steps."""
    monkeypatch.setattr(trainer_module, "DistributedDataParallel", lambda model, **kwargs: model)
    ranks = [Trainer(config, train, tmp_path / f"rank{r}", "cpu", DistributedContext(r, 2, torch.device("cpu")))
             for r in range(2)]
    model, optimizer, scheduler = ranks[0].model, ranks[0].optimizer, ranks[0].scheduler
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        step_losses = []
        for rank in ranks:
            batch, boxes, labels = next(iter(rank.loader()))  # the loader starts at the rank's step in its epoch
            loss = model.loss(model(batch), batch, boxes, labels)["total"]
            loss.backward()  # accumulates: after both ranks, the sum of their gradients
            step_losses.append(loss.item())
            rank.step += 1
            if rank.step % rank.steps_per_epoch == 0:
                rank.epoch += 1
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.grad /= 2
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        scheduler.step()
        losses.append(step_losses)
    return losses, model


def test_two_process_gloo_torchrun_step(config, train, tmp_path, monkeypatch, single_thread):
    """Two gloo ranks train on different shards and agree: each logged loss is the mean of the two ranks' losses,
    and the weights after two steps are those of the averaged gradients, as computed here in one process."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "perception.cli",
                             "train", str(write_config(config, train, tmp_path / "c.yaml")), "--out", str(run),
                             "--max-steps", "2", "--device", "cpu"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = read_log(run)
    assert sorted(log) == [1, 2]
    meta, tensors = load_checkpoint(run)
    assert meta["step"] == 2

    per_rank, model = two_rank_reference(config, train, tmp_path, monkeypatch, steps=2)
    for step, (rank0, rank1) in enumerate(per_rank, start=1):
        assert abs(rank0 - rank1) > 0.01, per_rank  # different shards: averaging them is not a no-op
        assert log[step]["total"] == pytest.approx((rank0 + rank1) / 2, rel=1e-5, abs=1e-5), (step, per_rank)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(tensors[f"model.{name}"], parameter.detach(), msg=name)


def test_checkpoint_round_trip_and_corruption(config, tmp_path):
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


def without_sweep_occupancy(config):
    return replace(config, lidar=replace(config.lidar, sweep_occupancy=False))


def with_sweep_occupancy(config):
    return replace(config, lidar=replace(config.lidar, sweep_occupancy=True))


def with_a_stride_4_block(config):
    decoder = config.decoder
    return replace(config, decoder=replace(decoder, block_layers=decoder.block_layers + (1,),
                                           block_channels=decoder.block_channels + (64,),
                                           block_strides=decoder.block_strides + (2,)))


def occupancy_channels(model, batch):
    return model.lidar(batch)[:, -1]


def stride_4_block_output(model, batch):
    features, _ = model.branch_features(batch)
    fused = model.fuser(features, batch.batch_size, model.config.bev.shape)
    return model.decoder(fused)[:, -model.config.decoder.upsample_channels:]


GROWTHS = {  # (old network, grown network, the tensor whose inputs grow, the new input)
    "sweep-occupancy": (without_sweep_occupancy, with_sweep_occupancy, "lidar_to_bev.0.weight", occupancy_channels),
    "decoder-block": (with_sweep_occupancy, with_a_stride_4_block, "head.shared.0.weight", stride_4_block_output),
}


@pytest.mark.parametrize("growth", GROWTHS)
def test_a_run_started_from_weights_computes_what_they_did_before_its_new_inputs_learn(config, synth_root,
                                                                                       tmp_path, growth):
    """init_from: inputs added to trained weights (the sweep-occupancy channels, a decoder block at stride 4)
    start at zero, so the grown network's boxes equal the old network's; the new layers keep their initialisation."""
    old_network, grown_network, grown_tensor, new_input = GROWTHS[growth]
    old = FusionDetector(old_network(config)).eval()
    save_checkpoint(tmp_path / "old", 1, 0, old, to_dict(old.config), list(config.classes))
    grown = FusionDetector(grown_network(old.config)).eval()
    grown_tensors, fresh, left_out = initial_weights(grown, tmp_path / "old")
    assert grown_tensors == [grown_tensor] and left_out == []
    assert fresh == sorted(grown.state_dict().keys() - old.state_dict().keys())

    dataset = NuScenesDataset(synth_root, None, num_sweeps=config.lidar.num_sweeps)
    frame = dataset.frame(dataset.all_sample_tokens("synth_all")[1], load_images=False)
    batch = collate([frame_to_sample(frame, [], config.camera.image_size)])
    with torch.no_grad():
        assert new_input(grown, batch).any()  # the new input is there, and weighs nothing yet
        expected, actual = old(batch), grown(batch)
    torch.testing.assert_close(actual.heatmap, expected.heatmap)
    torch.testing.assert_close(actual.regression, expected.regression)


def test_init_from_names_missing_weights_and_layers_of_another_width(config, synth_root, tmp_path):
    save_checkpoint(tmp_path / "old", 1, 0, FusionDetector(config), to_dict(config), list(config.classes))
    missing = replace(tiny_train_config(synth_root, train_split="synth_all"), init_from=str(tmp_path / "stage1"))
    with pytest.raises(DataError, match=r"stage1: train.init_from: checkpoint file does not exist"):
        trainer_module.train(config, missing, tmp_path / "run", device="cpu", max_steps=1, progress=False)
    assert not (tmp_path / "run" / "latest.json").exists()

    wider = replace(config, lidar=replace(config.lidar, pillar_channels=(24,)))
    with pytest.raises(DataError, match=r"lidar\.pillars\.layers\.0\.linear\.weight is \(16, \d+\) here but \(24, "):
        initial_weights(FusionDetector(wider), tmp_path / "old")


def test_a_camera_only_run_started_from_fused_weights_computes_what_they_did_without_points(config, synth_root,
                                                                                           tmp_path):
    """init_from a fused network into a camera-only one: the lidar modules are left out and the fuser keeps its
    camera inputs, so the camera-only network's maps equal the fused network's on the same frame without points;
    a camera branch of another width is refused by name."""
    fused = FusionDetector(config).eval()
    save_checkpoint(tmp_path / "fused", 1, 0, fused, to_dict(config), list(config.classes))
    camera_config = replace(config, lidar=replace(config.lidar, enabled=False))
    camera_only = FusionDetector(camera_config).eval()
    grown, fresh, left_out = initial_weights(camera_only, tmp_path / "fused")
    assert grown == [] and fresh == [] and left_out and all(n.startswith(("lidar.", "lidar_to_bev.")) for n in left_out)

    dataset = NuScenesDataset(synth_root, None, num_sweeps=config.lidar.num_sweeps)
    frame = dataset.frame(dataset.all_sample_tokens("synth_all")[1])
    batch = collate([frame_to_sample(frame, frame.rig.camera_names, config.camera.image_size, use_points=False)])
    with torch.no_grad():
        expected, actual = fused(batch), camera_only(batch)
    assert expected.heatmap.abs().sum() > 0
    torch.testing.assert_close(actual.heatmap, expected.heatmap)
    torch.testing.assert_close(actual.regression, expected.regression)

    narrower = replace(camera_config, camera=replace(camera_config.camera, bev_channels=8))
    with pytest.raises(DataError, match=r"the camera branch feeds the fuser 16 channels here but 8 in the model"):
        initial_weights(FusionDetector(narrower), tmp_path / "fused")


def test_a_fused_run_takes_its_camera_branch_from_a_camera_only_model(config, synth_root, tmp_path, capsys):
    """init_from a fused network, then init_camera_from a camera-only one (BEVFusion's fused stage): the camera
    tensors are the camera-only model's, every other tensor the fused network's; weights without a camera branch
    are refused by name."""
    fused, camera_only = FusionDetector(config), FusionDetector(replace(config, lidar=replace(config.lidar,
                                                                                               enabled=False)))
    torch.nn.init.constant_(camera_only.camera_to_bev[0].weight, 0.5)
    save_checkpoint(tmp_path / "fused", 1, 0, fused, to_dict(config), list(config.classes))
    save_checkpoint(tmp_path / "camera", 1, 0, camera_only, to_dict(camera_only.config), list(config.classes))
    train = replace(tiny_train_config(synth_root, train_split="synth_all"), init_from=str(tmp_path / "fused"),
                    init_camera_from=str(tmp_path / "camera"), lr=1e-9)
    trainer_module.train(config, train, tmp_path / "run", device="cpu", max_steps=1, progress=False)
    assert "camera branch from" in capsys.readouterr().out
    _, started = load_checkpoint(tmp_path / "run")
    camera, other = camera_only.state_dict(), fused.state_dict()
    for name, value in started.items():  # conv weights: the step moved them by ~lr; norm statistics moved more
        name = name.removeprefix("model.")
        if name.startswith(("camera.", "camera_to_bev.")) and value.ndim > 1:
            torch.testing.assert_close(value, camera[name], atol=1e-6, rtol=0)
        elif name.startswith(("lidar.", "fuser.", "decoder.", "head.")) and value.ndim > 1:
            torch.testing.assert_close(value, other[name], atol=1e-6, rtol=0)

    lidar_config = replace(config, camera=replace(config.camera, enabled=False))
    save_checkpoint(tmp_path / "lidar", 1, 0, FusionDetector(lidar_config), to_dict(lidar_config), list(config.classes))
    with pytest.raises(DataError, match="lidar/ckpt-00000001.json: these weights have no camera branch"):
        branch_weights(fused, tmp_path / "lidar", "camera")
