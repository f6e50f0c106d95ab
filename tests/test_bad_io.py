"""Damaged files and unusable output folders: each ends in one clear line or a counted fault, and work already done
is kept. The cases are real files damaged in tmp_path; a full disk, a failure mid-run and (as root) a read-only
folder are simulated."""
import errno
import io
import json
import os
import subprocess
from collections import Counter
from dataclasses import replace

import pytest
import torch
from mcap.exceptions import EndOfFile
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from mcap.records import Message

from calib.atomic import remove_stale_temps
from perception.cli import main
from perception.errors import DataError
from perception.inference import Detector
from perception.inference.weights import digest, load_checkpoint, meta_digest
from perception.models.detector import FusionDetector
from perception.replay.mcap_records import McapRecords, find_chunk, read_summary
from perception.train.checkpoint import save_checkpoint
from perception.train.trainer import Trainer, train
from perception.typed_config import to_dict
from tests.model_configs import tiny_config, tiny_train_config
from tests.test_replay import INPUT_TOPICS, SYNTH_VERSION, messages_of, replay_mcap
from tests.test_replay import recording, weights  # noqa: F401 (fixtures)
from tests.test_train import write_config

CHUNK_HEADER_COMPRESSION_LENGTH = 9 + 8 + 8 + 8 + 4  # record header, times, uncompressed size, crc
FOOTER_AND_MAGIC = 9 + 8 + 8 + 4 + 8  # footer record (summary start, summary offset start, crc), closing magic


def chunk_indexes(path) -> list:
    indexes = sorted(read_summary(path).chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(indexes) >= 3, "the recording should have several chunks"
    return indexes


def messages_in(path, chunk) -> list[tuple[int, int]]:
    """(channel, log time) of the messages the chunk holds, read through the mcap library from the chunk's own bytes
    (chunks may overlap in time, so a time range would also catch messages of their neighbours)."""
    data = path.read_bytes()[chunk.chunk_start_offset:chunk.chunk_start_offset + chunk.chunk_length]
    found = []
    try:
        for record in StreamReader(io.BytesIO(data), skip_magic=True).records:
            if isinstance(record, Message):
                found.append((record.channel_id, record.log_time))
    except EndOfFile:  # the slice is the chunk alone: no footer follows
        pass
    return found


def summary_start(path) -> int:
    """Where the file's summary section begins (from its footer)."""
    footer = path.read_bytes()[-FOOTER_AND_MAGIC:]
    return int.from_bytes(footer[9:17], "little")


def damaged_copy(recording, path, offset: int, replacement: bytes, keep: int | None = None):
    """A copy of the recording with ``replacement`` written at ``offset``, cut to ``keep`` bytes when given."""
    data = bytearray(recording.read_bytes())
    data[offset:offset + len(replacement)] = replacement
    path.write_bytes(bytes(data[:keep]))
    return path


def test_flipped_bytes_in_a_chunk_lose_only_its_messages(recording, weights, tmp_path):
    middle = chunk_indexes(recording)[len(chunk_indexes(recording)) // 2]
    inside_data = middle.chunk_start_offset + middle.chunk_length // 2
    flipped = damaged_copy(recording, tmp_path / "flipped.mcap", inside_data,
                           bytes(b ^ 0xFF for b in recording.read_bytes()[inside_data:inside_data + 4]))
    lost = Counter(messages_in(recording, middle))  # a (channel, time) may recur in other chunks: count them
    kept = messages_of(flipped)
    expected = []
    for message in messages_of(recording):
        if lost[message]:
            lost[message] -= 1
        else:
            expected.append(message)
    assert kept == expected

    summary = replay_mcap(flipped, weights, tmp_path / "replay")
    assert summary["faults"]["corrupt"] == len(lost) > 0
    [skipped] = summary["skipped_chunks"]
    assert skipped["offset"] == middle.chunk_start_offset and skipped["messages"] == len(lost)
    assert (skipped["message_start_ns"], skipped["message_end_ns"]) == (middle.message_start_time,
                                                                         middle.message_end_time)
    assert "crc" in skipped["reason"] and summary["truncated"] is None
    assert summary["frames"]["detected"] >= 1
    with open(tmp_path / "replay" / "detections.mcap", "rb") as file:
        passed_through = sum(channel.topic in INPUT_TOPICS for _, channel, _ in make_reader(file).iter_messages())
    assert passed_through == len(kept)


@pytest.mark.parametrize("with_summary", [True, False], ids=["chunk-index", "forward-scan"])
def test_a_damaged_chunk_header_does_not_end_the_recording(recording, tmp_path, with_summary):
    indexes = chunk_indexes(recording)
    second = indexes[1]
    damaged = damaged_copy(recording, tmp_path / "header.mcap", second.chunk_start_offset +
                           CHUNK_HEADER_COMPRESSION_LENGTH, b"\xff\xff\xff\x7f",
                           None if with_summary else summary_start(recording))
    records = McapRecords(damaged, read_summary(damaged))
    kept = [(r.channel_id, r.log_time) for r in records if isinstance(r, Message)]
    lost = messages_in(recording, second)
    assert kept[-1] == messages_in(recording, indexes[-1])[-1]  # the last chunk is read
    assert set(kept) == set(messages_of(recording)) - set(lost)
    [skipped] = records.skipped_chunks
    assert skipped.offset == second.chunk_start_offset
    assert skipped.resume == (second.chunk_start_offset + second.chunk_length if with_summary
                              else indexes[2].chunk_start_offset)
    assert skipped.messages == (len(lost) if with_summary else None)
    assert (skipped.start_ns, skipped.end_ns) == (second.message_start_time, second.message_end_time)
    assert (records.truncation is None) == with_summary  # without a summary the cut end is still reported


def test_the_forward_scan_finds_only_whole_chunk_headers(recording, tmp_path):
    second = chunk_indexes(recording)[1]
    data = recording.read_bytes()
    scanned = tmp_path / "scan.bin"
    scanned.write_bytes(data[second.chunk_start_offset - 100:second.chunk_start_offset + second.chunk_length])
    with open(scanned, "rb") as file:
        assert find_chunk(file, 0, scanned.stat().st_size) == 100
    scanned.write_bytes(b"\x06\x07" + data[second.chunk_start_offset:second.chunk_start_offset + 20])  # cut header
    with open(scanned, "rb") as file:
        assert find_chunk(file, 0, scanned.stat().st_size) is None


def replay_argv(synth_root, weights, out) -> list[str]:
    return ["replay", "--source", "nuscenes", "--dataroot", str(synth_root), "--version", SYNTH_VERSION,
            "--checkpoint", str(weights), "--out", str(out), "--device", "cpu"]


def one_error_line(capsys) -> str:
    """The command's error: one line on stderr (besides the progress bar)."""
    [line] = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    return line


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_failed_replay_keeps_the_previous_outputs_and_the_results_done(synth_root, weights, tmp_path, capsys,
                                                                          monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    pid = dead_pid()
    stale = [out / f".replay.pid{pid}.k1ll3d.tmp", out / f".detections.mcap.pid{pid}.writing.tmp"]
    stale[0].mkdir()
    stale[1].write_bytes(b"half a recording")
    assert main(replay_argv(synth_root, weights, out)) == 0
    assert not any(path.exists() for path in stale)
    previous = {path.name: path.read_bytes() for path in out.iterdir()}
    assert set(previous) == {"detections.mcap", "detections.layout.json", "results.json", "summary.json"}

    calls = []

    def disk_full_at_third_frame(self, batch, frame_token=""):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "detections.mcap"))
        return infer(self, batch, frame_token)

    infer = Detector.infer
    monkeypatch.setattr(Detector, "infer", disk_full_at_third_frame)
    assert main(replay_argv(synth_root, weights, out)) == 2
    partial = out / "results.partial.jsonl"
    assert one_error_line(capsys) == (f"error: {out / 'detections.mcap'}: No space left on device; the results of "
                                      f"the 2 keyframes done are kept in {partial}")
    assert {path.name: path.read_bytes() for path in out.iterdir() if path != partial} == previous
    done = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [entry["sample_token"] for entry in done] == list(json.loads(previous["results.json"])["results"])[:2]

    monkeypatch.undo()
    assert main(replay_argv(synth_root, weights, out)) == 0
    assert sorted(path.name for path in out.iterdir()) == ["detections.layout.json", "detections.mcap", "results.json",
                                                         "summary.json"]


def test_out_that_is_a_file_fails_before_any_work(synth_root, weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Detector, "infer", lambda *args: pytest.fail("the replay should not start"))
    out = tmp_path / "out"
    out.write_text("my notes")
    assert main(replay_argv(synth_root, weights, out)) == 2
    assert one_error_line(capsys) == f"error: {out}: exists and is a file, not a folder"
    assert out.read_text() == "my notes"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_before_any_work(synth_root, weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    assert main(replay_argv(synth_root, weights, out)) == 2
    assert one_error_line(capsys) == f"error: {out}: Permission denied"


def test_unwritable_or_full_out_is_one_line_naming_it(synth_root, weights, tmp_path, capsys, monkeypatch):
    """What a read-only folder (as root, simulated) and a full disk look like; checked before any work."""
    monkeypatch.setattr(Detector, "infer", lambda *args: pytest.fail("the replay should not start"))
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(os, "access", lambda path, mode: False)
        assert main(replay_argv(synth_root, weights, out)) == 2
    assert one_error_line(capsys) == f"error: {out}: Permission denied"

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    assert main(replay_argv(synth_root, weights, out)) == 2
    assert one_error_line(capsys) == f"error: {out}: No space left on device"
    assert list(out.iterdir()) == []  # the probe file is gone


def saved_run(run, steps=(1, 2)):
    """A run folder with a checkpoint (model only) at each of ``steps``; the last is latest."""
    config = tiny_config()
    model = FusionDetector(config)
    for step in steps:
        save_checkpoint(run, step, 0, model, to_dict(config), list(config.classes))
    return run


def edit_sidecar(sidecar, edit) -> None:
    meta = json.loads(sidecar.read_text())
    edit(meta)
    sidecar.write_text(json.dumps(meta))


@pytest.mark.parametrize("edit, message", [
    (lambda meta: meta.pop("tensors_file"), "checkpoint sidecar has no tensors_file"),
    (lambda meta: meta.pop("config"), "checkpoint sidecar has no config"),
    (lambda meta: meta.pop("meta_sha256"), "checkpoint sidecar has no meta_sha256"),
    (lambda meta: meta["classes"].reverse(), "config or class list was changed after it was written"),
    (lambda meta: meta["config"]["head"].update(score_threshold=0.01), "config or class list was changed"),
], ids=["no-tensors-file", "no-config", "no-meta-hash", "reordered-classes", "edited-config"])
def test_a_damaged_sidecar_is_one_error(tmp_path, edit, message):
    sidecar = saved_run(tmp_path, steps=(1,)) / "ckpt-00000001.json"
    edit_sidecar(sidecar, edit)
    with pytest.raises(DataError, match=message) as error:
        load_checkpoint(sidecar)
    assert error.value.path == str(sidecar)


def test_a_truncated_tensor_file_with_a_matching_hash_is_one_error(tmp_path):
    sidecar = saved_run(tmp_path, steps=(1,)) / "ckpt-00000001.json"
    tensors = tmp_path / "ckpt-00000001.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:100])
    edit_sidecar(sidecar, lambda meta: meta.update(tensors_sha256=digest(tensors.read_bytes())))
    with pytest.raises(DataError, match="not a valid safetensors file") as error:
        load_checkpoint(sidecar)
    assert error.value.path == str(tensors)


def test_a_corrupt_latest_json_is_one_line_from_the_cli(tmp_path, capsys):
    run = saved_run(tmp_path / "run")
    (run / "latest.json").write_text('{"checkpoint": ')  # killed mid-write by a tool that does not write atomically
    assert main(["export", str(run), "--out", str(tmp_path / "exported")]) == 2
    assert one_error_line(capsys).startswith(f"error: {run / 'latest.json'}: latest.json is corrupt")


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    run = saved_run(tmp_path)
    tensors = run / "ckpt-00000002.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-10])
    with caplog.at_level("WARNING"):
        meta, _ = load_checkpoint(run)
    assert meta["step"] == 1
    assert "ckpt-00000002.safetensors: checkpoint tensor file is corrupt" in caplog.text
    assert "using the previous intact checkpoint ckpt-00000001.json (step 1)" in caplog.text
    (run / "ckpt-00000001.json").unlink()
    with pytest.raises(DataError, match="ckpt-00000002.safetensors: checkpoint tensor file is corrupt"):
        load_checkpoint(run)


def test_the_shipped_weights_carry_their_config_hash():
    meta, _ = load_checkpoint("demo")
    assert meta["meta_sha256"] == meta_digest(meta)


@pytest.fixture
def train_config(synth_root):
    return tiny_train_config(synth_root, train_split="synth_all", epochs=4, lr=1e-3)


def logged_steps(run) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_resuming_checks_the_config_and_logs_each_step_once(train_config, tmp_path, capsys):
    config, run = tiny_config(), tmp_path / "run"
    train(config, train_config, run, "cpu", max_steps=2, progress=False)
    with (run / "log.jsonl").open("a") as log:  # a run killed after logging past its last checkpoint
        log.write('{"step": 3, "total": 1.0}\n{"step": 4, "tot')
    with pytest.raises(DataError, match=r"another config \(train.lr: 0.001 -> 0.002\)"):
        Trainer(config, replace(train_config, lr=2e-3), run, "cpu").resume()

    capsys.readouterr()
    train(config, train_config, run, "cpu", max_steps=1, progress=False)
    assert "resumed from step 2 (ckpt-00000002.json" in capsys.readouterr().out
    assert logged_steps(run) == [1, 2, 3]


def test_a_nan_loss_stops_with_its_step_and_keeps_the_last_good_checkpoint(train_config, tmp_path, capsys,
                                                                          monkeypatch):
    run = tmp_path / "run"
    calls, loss = [], FusionDetector.loss

    def nan_at_third_step(self, *args):
        losses = loss(self, *args)
        calls.append(1)
        return {**losses, "total": losses["total"] * float("nan")} if len(calls) == 3 else losses

    monkeypatch.setattr(FusionDetector, "loss", nan_at_third_step)
    yaml_config = write_config(tiny_config(), train_config, tmp_path / "config.yaml")
    assert main(["train", str(yaml_config), "--out", str(run), "--max-steps", "4", "--device", "cpu"]) == 2
    assert one_error_line(capsys) == (f"error: {run}: training stopped: the loss became nan at step 3; the last good "
                                      f"checkpoint, ckpt-00000002.json (step 2), is kept (a lower lr or grad_clip "
                                      f"may help)")
    meta, tensors = load_checkpoint(run)
    assert meta["step"] == 2 and all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    assert logged_steps(run) == [1, 2]


def test_train_out_that_is_a_file_is_one_line(train_config, tmp_path, capsys):
    out = tmp_path / "run"
    out.write_text("not a folder")
    yaml_config = write_config(tiny_config(), train_config, tmp_path / "config.yaml")
    assert main(["train", str(yaml_config), "--out", str(out), "--device", "cpu"]) == 2
    assert one_error_line(capsys) == f"error: {out}: exists and is a file, not a folder"


def test_only_the_temporary_files_of_ended_processes_are_removed(tmp_path):
    ended, running = dead_pid(), os.getpid()
    stale = [tmp_path / f".results.json.pid{ended}.x1y2.tmp", tmp_path / f".replay.pid{ended}.abc.tmp"]
    live = [tmp_path / f".results.json.pid{running}.z9.tmp", tmp_path / "notes.tmp", tmp_path / "results.json"]
    stale[1].mkdir()
    for path in [stale[0], *live]:
        path.write_text("x")
    assert sorted(remove_stale_temps(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(live)
