"""Replay: nuScenes scene ↔ MCAP recording, sync, faults, truncation and the output recording."""
import argparse
import json
import time

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.exceptions import EndOfFile
from mcap.records import Channel, Chunk, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap_protobuf.decoder import DecoderFactory

from perception.data.nuscenes import NuScenesDataset
from perception.errors import DataError
from perception.replay.cli import add_replay_arguments, add_to_mcap_arguments, run_replay, run_to_mcap
from perception.replay.jobs import decode_jobs
from perception.replay.mcap_output import McapOutput
from perception.replay.mcap_records import McapRecords
from perception.replay.mcap_source import McapSource
from perception.replay.nuscenes_source import NuScenesSource
from perception.replay.runner import Pacer
from perception.replay.sync import Synchronizer
from perception.replay.topics import KEYFRAMES_METADATA, TopicMap, load_topic_map
from perception.replay.transforms import TransformBuffer
from perception.typed_config import ConfigError
from tests.real_nuscenes import VERSION as REAL_VERSION
from tests.test_detect import write_tiny_weights
from tests.test_viz import h264_frames

SYNTH_VERSION = "v1.0-synth"
NUM_SWEEPS = 2  # tiny_config's
INPUT_TOPICS = {"/LIDAR_TOP", "/tf", "/CAM_FRONT/image_rect_compressed", "/CAM_FRONT/camera_info",
                "/CAM_BACK/image_rect_compressed", "/CAM_BACK/camera_info", "/ground_truth"}


def parse(add_arguments, *argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def to_mcap(dataroot, version, out):
    return run_to_mcap(parse(add_to_mcap_arguments, "--dataroot", dataroot, "--version", version, "--out", out))


def replay_mcap(recording, weights, out, *extra) -> dict:
    return run_replay(parse(add_replay_arguments, "--source", "mcap", "--input", recording, "--detect-on", "keyframes",
                            "--checkpoint", weights, "--out", out, "--device", "cpu", *extra))


def results_of(out) -> dict:
    return json.loads((out / "results.json").read_text())["results"]


def synced_jobs(source, keyframes_only: bool) -> list:
    synchronizer = Synchronizer(TransformBuffer("map", "base_link"), NUM_SWEEPS, 50_000_000, keyframes_only)
    return [job for job in decode_jobs(source, synchronizer) if job.frame is not None]


def assert_same_frame(frame, expected):
    assert frame.token == expected.token
    np.testing.assert_array_equal(frame.points, expected.points)
    np.testing.assert_array_equal(frame.global_from_ego, expected.global_from_ego)
    assert sorted(frame.images) == sorted(expected.images)
    for name, camera in expected.rig.cameras.items():
        np.testing.assert_array_equal(frame.rig.cameras[name].ego_from_camera, camera.ego_from_camera)
        np.testing.assert_array_equal(frame.rig.cameras[name].intrinsics, camera.intrinsics)
        np.testing.assert_array_equal(frame.images[name], expected.images[name])


def assert_same_results(results, expected):
    assert sorted(results) == sorted(expected)
    for token, entries in expected.items():
        assert [e["detection_name"] for e in results[token]] == [e["detection_name"] for e in entries]
        for key in ("translation", "size", "rotation", "velocity"):
            np.testing.assert_allclose([e[key] for e in results[token]], [e[key] for e in entries], atol=1e-6)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_tiny_weights(tmp_path_factory.mktemp("replay_weights"))


@pytest.fixture(scope="module")
def recording(synth_root, tmp_path_factory):
    """The first synthetic scene as an MCAP recording."""
    return to_mcap(synth_root, SYNTH_VERSION, tmp_path_factory.mktemp("recording") / "scene.mcap")


@pytest.fixture(scope="module")
def replays(synth_root, recording, weights, tmp_path_factory):
    """The first synthetic scene's keyframes replayed from the dataset (with video) and from its recording."""
    out = tmp_path_factory.mktemp("replays")
    direct = run_replay(parse(add_replay_arguments, "--source", "nuscenes", "--dataroot", synth_root, "--version",
                              SYNTH_VERSION, "--checkpoint", weights, "--out", out / "direct", "--device", "cpu",
                              "--video", "--rrd"))
    return out, direct, replay_mcap(recording, weights, out / "mcap")


def test_scene_through_mcap_detects_as_the_scene(replays):
    out, direct, from_mcap = replays
    for summary in (direct, from_mcap):
        assert summary["frames"] == {"detected": 3, "dropped": 0, "skipped": 0, "camera_only": 0}
        assert summary["faults"]["corrupt"] == summary["faults"]["unreadable"] == 0
        assert summary["missing_cameras"] == {} and summary["truncated"] is None
    assert_same_results(results_of(out / "mcap"), results_of(out / "direct"))
    assert (out / "direct" / "replay.mp4").stat().st_size > 10_000
    assert len(h264_frames(out / "direct" / "replay.mp4")) == 3
    assert (out / "direct" / "replay.rrd").stat().st_size > 10_000 and direct["outputs"]["rrd"]


def test_synced_frames_are_the_datasets_frames(synth_root, recording):
    """Every sweep synced from the recording is the sweep synced from the tables, and keyframes are exactly what
    the nuScenes loader builds (points, ego-motion-compensated cameras, images)."""
    dataset = NuScenesDataset(synth_root, SYNTH_VERSION, num_sweeps=NUM_SWEEPS)
    scene = dataset.scene_names()[0]
    from_tables = synced_jobs(NuScenesSource(dataset, scene, TopicMap()), keyframes_only=False)
    from_mcap = synced_jobs(McapSource(recording, TopicMap()), keyframes_only=False)
    assert len(from_mcap) == len(from_tables) == 9  # 3 keyframes with 2 sweeps before each
    for job, expected in zip(from_mcap, from_tables):
        assert_same_frame(job.frame, expected.frame)
    keyframes = [job for job in from_mcap if job.sample_token]
    assert [job.sample_token for job in keyframes] == dataset.sample_tokens(scene)
    for job in keyframes:
        assert_same_frame(job.frame, dataset.frame(job.sample_token))
        assert job.missing == []


def test_real_keyframe_converts_to_mcap_and_replays(real_nuscenes_root, weights, tmp_path):
    recording = to_mcap(real_nuscenes_root, REAL_VERSION, tmp_path / "real.mcap")
    dataset = NuScenesDataset(real_nuscenes_root, REAL_VERSION, num_sweeps=NUM_SWEEPS)
    [job] = synced_jobs(McapSource(recording, TopicMap()), keyframes_only=True)
    assert_same_frame(job.frame, dataset.frame(job.sample_token))
    assert len(job.frame.images) == 6 and job.frame.images["CAM_FRONT"].shape == (900, 1600, 3)

    summary = replay_mcap(recording, weights, tmp_path / "replay")
    assert summary["frames"]["detected"] == 1 and summary["missing_cameras"] == {}
    assert list(results_of(tmp_path / "replay")) == [job.sample_token]


def messages_of(path) -> list[tuple[int, int]]:
    return [(r.channel_id, r.log_time) for r in McapRecords(path) if isinstance(r, Message)]


def test_cut_off_recording_replays_its_complete_part(replays, recording, weights, tmp_path):
    data = recording.read_bytes()
    complete = messages_of(recording)

    # Cut inside the largest chunk: the mcap stream reader loses all of it, we keep its whole records.
    chunks, offset = [], 0
    with open(recording, "rb") as file:
        for record in StreamReader(file, emit_chunks=True).records:
            chunks.append((file.tell() - offset, offset, isinstance(record, Chunk)))
            offset = file.tell()
    size, start, _ = max(c for c in chunks if c[2])
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[:start + size * 3 // 4])
    kept, plain = messages_of(cut), []
    with open(cut, "rb") as file, pytest.raises(EndOfFile):
        for record in StreamReader(file).records:
            plain += [record] if isinstance(record, Message) else []
    assert kept == complete[:len(kept)] and len(plain) < len(kept) < len(complete)

    cut.write_bytes(data[:len(data) * 6 // 10])
    summary = replay_mcap(cut, weights, tmp_path / "replay")
    assert summary["truncated"]["offset"] < summary["truncated"]["file_size"] == len(data) * 6 // 10
    results = results_of(tmp_path / "replay")
    # Cameras fire before their keyframe sweep, so a keyframe sweep before the cut has all its images.
    assert 1 <= summary["frames"]["detected"] < 3 and len(results) == summary["frames"]["detected"]
    full = results_of(replays[0] / "mcap")
    assert_same_results(results, {token: full[token] for token in results})


def read_recording(path) -> tuple[dict, dict, dict, list]:
    """Metadata by name, schemas and channels by id, and the messages of an MCAP file."""
    metadata, schemas, channels, messages = {}, {}, {}, []
    for record in McapRecords(path):
        if isinstance(record, Metadata):
            metadata[record.name] = record.metadata
        elif isinstance(record, Schema):
            schemas[record.id] = record
        elif isinstance(record, Channel):
            channels[record.id] = record
        elif isinstance(record, Message):
            messages.append(record)
    return metadata, schemas, channels, messages


def write_faulty_copy(recording, path) -> Message:
    """A copy of the recording whose keyframe 0 front image is not a JPEG, keyframe 1 back image is left out,
    keyframe 2 sweep is empty, and first sweep has a bad data length and an undecodable transform message.
    Returns the first sweep's message."""
    metadata, schemas, channels, messages = read_recording(recording)
    keyframes = sorted(int(t) for t in metadata[KEYFRAMES_METADATA])
    factory = DecoderFactory()

    def with_data(message: Message, data: bytes) -> bytes:
        channel = channels[message.channel_id]
        decoded = factory.decoder_for(channel.message_encoding, schemas[channel.schema_id])(message.data)
        decoded.data = data
        return decoded.SerializeToString()

    def nearest(topic: str, time_ns: int) -> Message:  # to-mcap logs each message at its sensor time
        return min((m for m in messages if channels[m.channel_id].topic == topic),
                   key=lambda m: abs(m.log_time - time_ns))

    front, empty = nearest("/CAM_FRONT/image_rect_compressed", keyframes[0]), nearest("/LIDAR_TOP", keyframes[2])
    first_sweep = nearest("/LIDAR_TOP", 0)
    payloads = {id(front): with_data(front, b"not a jpeg"), id(empty): with_data(empty, b""),
                id(first_sweep): with_data(first_sweep, bytes(1003)),  # not a whole number of 16-byte points
                id(nearest("/tf", first_sweep.log_time)): b"\xff\xff\xff"}
    left_out = nearest("/CAM_BACK/image_rect_compressed", keyframes[1])
    with McapOutput(path) as out:
        for name, values in metadata.items():
            out.add_metadata(name, values)
        for message in messages:
            if message is not left_out:
                channel = channels[message.channel_id]
                out.write_raw(channel, schemas[channel.schema_id], payloads.get(id(message), message.data),
                              message.log_time)
    return first_sweep


def test_corrupt_and_missing_messages_are_counted_not_fatal(recording, weights, tmp_path):
    faulty = tmp_path / "faulty.mcap"
    first_sweep = write_faulty_copy(recording, faulty)
    summary = replay_mcap(faulty, weights, tmp_path / "replay")
    assert summary["frames"] == {"detected": 3, "dropped": 0, "skipped": 0, "camera_only": 1}
    assert summary["missing_cameras"] == {"CAM_FRONT": 1, "CAM_BACK": 1}
    faults = summary["faults"]
    assert faults["corrupt"] == 3 and faults["unreadable"] == 0
    by_topic = {fault["topic"]: fault for fault in faults["listed"]}
    assert set(by_topic) == {"/LIDAR_TOP", "/tf", "/CAM_FRONT/image_rect_compressed"}
    assert by_topic["/LIDAR_TOP"]["log_time_ns"] == first_sweep.log_time
    assert "cannot be decoded" in by_topic["/CAM_FRONT/image_rect_compressed"]["reason"]
    assert len(results_of(tmp_path / "replay")) == 3


def test_output_recording_holds_inputs_and_boxes(replays, recording):
    out, _, summary = replays
    results = results_of(out / "mcap")
    with open(out / "mcap" / "detections.mcap", "rb") as file:
        reader = make_reader(file, decoder_factories=[DecoderFactory()])
        keyframes = {int(t): token for m in reader.iter_metadata() if m.name == KEYFRAMES_METADATA
                     for t, token in m.metadata.items()}
        decoded = list(reader.iter_decoded_messages())
    topics = {channel.topic for _, channel, _, _ in decoded}
    assert topics == INPUT_TOPICS | {"/detections", "/CAM_FRONT/detections", "/CAM_BACK/detections"}
    assert sum(channel.topic in INPUT_TOPICS for _, channel, _, _ in decoded) == len(messages_of(recording))

    updates = [(message.log_time, proto) for _, channel, message, proto in decoded if channel.topic == "/detections"]
    assert len(updates) == summary["frames"]["detected"] == 3
    for log_time, update in updates:
        assert len(update.entities) == len(results[keyframes[log_time]]) > 0
        assert all(e.frame_id == "base_link" and len(e.cubes) == 1 for e in update.entities)
        for entity, result in zip(update.entities, results[keyframes[log_time]]):
            metadata = {pair.key: pair.value for pair in entity.metadata}
            assert metadata["class"] == result["detection_name"] and set(metadata) >= {"score", "vx", "vy"}
    truth = [(message.log_time, proto) for _, channel, message, proto in decoded if channel.topic == "/ground_truth"]
    assert sorted(t for t, _ in truth) == sorted(keyframes)
    assert all(update.entities and all("score" not in {p.key for p in e.metadata} for e in update.entities)
               for _, update in truth)
    layout = json.loads((out / "mcap" / "detections.layout.json").read_text())
    panels = layout["configById"]
    assert set(panels["3D!replay"]["topics"]) == {"/LIDAR_TOP", "/ground_truth", "/detections"}
    assert panels["Image!cam_front"]["imageMode"]["imageTopic"] == "/CAM_FRONT/image_rect_compressed"
    image_times = {(channel.topic.split("/")[1], message.log_time) for _, channel, message, _ in decoded
                   if channel.topic.endswith("image_rect_compressed")}
    for camera in ("CAM_FRONT", "CAM_BACK"):
        annotations = [(m.log_time, p) for _, c, m, p in decoded if c.topic == f"/{camera}/detections"]
        assert len(annotations) == 3 and all((camera, t) in image_times for t, _ in annotations)
        assert all(a.points for _, a in annotations)
    latency = json.loads((out / "mcap" / "summary.json").read_text())["latency_ms"]
    assert all(latency[stage]["p95"] >= latency[stage]["p50"] >= 0
               for stage in ("decode", "preprocess", "model", "postprocess", "write"))


def test_topic_map_is_validated(recording, tmp_path):
    config = tmp_path / "topics.yaml"
    config.write_text("lidar_topic: /points\n")
    with pytest.raises(ConfigError, match="did you mean 'lidar'"):
        load_topic_map(config)
    config.write_text("lidar: /CAM_FRONT/camera_info\n")
    with pytest.raises(DataError, match="must hold foxglove.PointCloud"):
        McapSource(recording, load_topic_map(config))
    config.write_text("lidar: /points\n")
    with pytest.raises(DataError, match="no lidar topic '/points'"):
        list(McapSource(recording, load_topic_map(config)))


def test_a_file_that_is_not_mcap_is_a_clear_error(tmp_path):
    not_mcap = tmp_path / "notes.mcap"
    not_mcap.write_text("these are not the bytes you are looking for")
    with pytest.raises(DataError, match="not an MCAP file"):
        list(McapSource(not_mcap, TopicMap()))


class FakeClock:
    """Stands in for the ``time`` module in the runner: ``perf_counter`` reads a clock that only ``sleep`` and
    ``advance`` (the detector's work) move, so pacing is checked to the nanosecond on a machine of any speed."""

    def __init__(self):
        self.now, self.slept = 100.0, []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 9))
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_real_time_pacing_drops_late_frames(monkeypatch):
    """A frame is due at its recording time after the first (divided by the rate); the pacer sleeps until then, and
    drops a frame that is later than the gap to the frame before it (a newer sweep would already have arrived)."""
    from perception.replay import runner

    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    pacer = Pacer(rate=1.0)
    assert pacer.admit(0) and clock.slept == []               # the first frame sets the start
    clock.advance(0.01)
    assert pacer.admit(50_000_000) and clock.slept == [0.04]  # due 50 ms after the first: waits the other 40 ms
    clock.advance(0.11)  # the detector took too long: at 160 ms, the sweep of 100 ms is 60 ms late, its gap is 50 ms
    assert not pacer.admit(100_000_000) and clock.slept == [0.04]
    assert pacer.admit(250_000_000) and clock.slept == [0.04, 0.09]  # on time again: waits from 160 to 250 ms
    clock.advance(0.05)  # at 300 ms the sweep of 280 ms is 20 ms late, less than its 30 ms gap: run at once
    assert pacer.admit(280_000_000) and clock.slept == [0.04, 0.09, 0.0]

    clock.slept.clear()
    fast = Pacer(rate=2.0)  # twice real time: 100 ms of recording is due 50 ms of wall time later
    assert fast.admit(10**9) and fast.admit(1_100_000_000) and clock.slept == [0.05]
    clock.advance(0.09)  # 40 ms late with a 50 ms gap: run
    assert fast.admit(1_200_000_000) and clock.slept == [0.05, 0.0]
    assert fast.admit(1_300_000_000) and clock.slept == [0.05, 0.0, 0.01]
    clock.advance(0.12)  # 70 ms late with a 50 ms gap: dropped
    assert not fast.admit(1_400_000_000) and clock.slept == [0.05, 0.0, 0.01]
    unpaced = Pacer(rate=0)  # as fast as possible: never waits, never drops
    assert all(unpaced.admit(t) for t in (10**12, 2 * 10**12, 0)) and len(clock.slept) == 3


def test_real_time_pacing_really_sleeps():
    """The real clock, with margins for a slow machine: a frame 50 ms after the first is not admitted early."""
    pacer = Pacer(rate=1.0)
    start = time.perf_counter()
    assert pacer.admit(0)
    admitted = pacer.admit(50_000_000)
    # A machine that stalls for more than 100 ms between the two calls may drop the frame; it must not be early.
    assert time.perf_counter() - start >= 0.045 or not admitted
