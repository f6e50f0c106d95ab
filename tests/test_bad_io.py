"""Damaged files and unusable output folders: each ends in one clear line or a counted fault, and work already done
is kept. Every case is built from a real file damaged in tmp_path."""
import errno
import json
import os
import subprocess

import pytest
from mcap.reader import make_reader
from mcap.records import Message

from perception.cli import main
from perception.inference import Detector
from perception.replay.mcap_records import McapRecords, read_summary
from tests.test_detect import write_tiny_weights
from tests.test_replay import INPUT_TOPICS, SYNTH_VERSION, messages_of, replay_mcap, to_mcap

CHUNK_HEADER_COMPRESSION_LENGTH = 9 + 8 + 8 + 8 + 4  # record header, times, uncompressed size, crc
FOOTER_AND_MAGIC = 9 + 8 + 8 + 4 + 8  # footer record (summary start, summary offset start, crc), closing magic


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_tiny_weights(tmp_path_factory.mktemp("bad_io_weights"))


@pytest.fixture(scope="module")
def recording(synth_root, tmp_path_factory):
    """The first synthetic scene as an MCAP recording of several chunks."""
    return to_mcap(synth_root, SYNTH_VERSION, tmp_path_factory.mktemp("bad_io_recording") / "scene.mcap")


def chunk_indexes(path) -> list:
    indexes = sorted(read_summary(path).chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(indexes) >= 3, "the recording should have several chunks"
    return indexes


def messages_in(path, chunk) -> list[tuple[int, int]]:
    """(channel, log time) of the messages the chunk holds, read through the mcap library."""
    with open(path, "rb") as file:
        return [(m.channel_id, m.log_time) for _, _, m in make_reader(file).iter_messages(
            starting_at=chunk.message_start_time, ending_at=chunk.message_end_time, log_time_order=False)]


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
    lost = messages_in(recording, middle)
    kept = messages_of(flipped)
    assert kept == [m for m in messages_of(recording) if m not in lost]

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
    assert (records.truncation is None) == with_summary  # without a summary the cut end is still reported


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
    assert set(previous) == {"detections.mcap", "results.json", "summary.json"}

    calls = []

    def disk_full_at_third_frame(self, frame, modalities):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "detections.mcap"))
        return detect_timed(self, frame, modalities)

    detect_timed = Detector.detect_timed
    monkeypatch.setattr(Detector, "detect_timed", disk_full_at_third_frame)
    assert main(replay_argv(synth_root, weights, out)) == 2
    partial = out / "results.partial.jsonl"
    assert one_error_line(capsys) == (f"error: {out / 'detections.mcap'}: No space left on device; the results of "
                                      f"the 2 keyframes done are kept in {partial}")
    assert {path.name: path.read_bytes() for path in out.iterdir() if path != partial} == previous
    done = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [entry["sample_token"] for entry in done] == list(json.loads(previous["results.json"])["results"])[:2]

    monkeypatch.undo()
    assert main(replay_argv(synth_root, weights, out)) == 0
    assert sorted(path.name for path in out.iterdir()) == ["detections.mcap", "results.json", "summary.json"]


def test_out_that_is_a_file_fails_before_any_work(synth_root, weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Detector, "detect_timed", lambda *args: pytest.fail("the replay should not start"))
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
    monkeypatch.setattr(Detector, "detect_timed", lambda *args: pytest.fail("the replay should not start"))
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
