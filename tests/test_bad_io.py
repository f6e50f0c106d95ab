"""Damaged files and unusable output folders: each ends in one clear line or a counted fault, and work already done
is kept. Every case is built from a real file damaged in tmp_path."""
import json

import pytest
from mcap.reader import make_reader
from mcap.records import Message

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
