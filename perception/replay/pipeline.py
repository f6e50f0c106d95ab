"""One replay: a source through sync and the detector into the sinks, and its summary.

Writes into ``out``: ``detections.mcap`` (input topics + boxes) and its Foxglove layout, ``results.json`` (when
the source has sample tokens), ``replay.mp4`` and ``replay.rrd`` (optional) and ``summary.json`` (latency
percentiles, dropped/skipped/corrupt frames).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from calib.atomic import atomic_write_bytes
from perception.inference import Detector
from perception.replay.jobs import decode_jobs
from perception.replay.rerun_sink import RerunSink
from perception.replay.runner import ReplayOptions, run_jobs
from perception.replay.sinks import McapSink, ResultsSink, VideoSink
from perception.replay.sync import DEFAULT_TOLERANCE_MS, Synchronizer
from perception.replay.topics import TopicMap
from perception.replay.transforms import TransformBuffer

MCAP_NAME, RESULTS_NAME, VIDEO_NAME, SUMMARY_NAME = "detections.mcap", "results.json", "replay.mp4", "summary.json"
RRD_NAME = "replay.rrd"


@dataclass
class ReplaySettings:
    rate: float = 0.0                 # 1.0: recording time, 0: as fast as possible
    tolerance_ms: float = DEFAULT_TOLERANCE_MS  # the farthest a camera image may be from its sweep
    keyframes_only: bool = False      # only sweeps with a sample token get detections
    video: bool = False
    rrd: bool = False                 # also write a Rerun recording of the drive
    progress: bool = True


def replay(source, topics: TopicMap, detector: Detector, out: str | Path, settings: ReplaySettings) -> dict:
    """Replay ``source`` (a ``NuScenesSource`` or ``McapSource``) through the detector; return the summary."""
    out = Path(out)
    config = detector.config
    synchronizer = Synchronizer(TransformBuffer(topics.world_frame, topics.ego_frame), config.lidar.num_sweeps,
                                round(settings.tolerance_ms * 1e6), settings.keyframes_only)
    results = ResultsSink(out / RESULTS_NAME, config.camera.enabled, config.lidar.enabled)
    sinks = [McapSink(out / MCAP_NAME, topics, source.metadata), results]
    if settings.video:
        sinks.append(VideoSink(out / VIDEO_NAME))
    if settings.rrd:
        sinks.append(RerunSink(out / RRD_NAME))
    start = time.perf_counter()
    stats = run_jobs(decode_jobs(source, synchronizer), detector, sinks,
                     ReplayOptions(settings.rate, settings.progress, source.expected_frames))
    summary = {"scene": source.scene_name, "device": str(detector.device), "rate": settings.rate,
               "sweeps": "keyframes" if settings.keyframes_only else "all", "tolerance_ms": settings.tolerance_ms,
               **stats.summary(time.perf_counter() - start),
               "truncated": source.truncation.as_dict() if source.truncation else None,
               "outputs": {"mcap": str(out / MCAP_NAME),
                           "results": str(out / RESULTS_NAME) if results.results else None,
                           "video": str(out / VIDEO_NAME) if settings.video else None,
                           "rrd": str(out / RRD_NAME) if settings.rrd else None}}
    atomic_write_bytes(out / SUMMARY_NAME, json.dumps(summary, indent=1).encode())
    return summary
