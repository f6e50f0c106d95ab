"""The replay loop: decode in a background thread, pace to the recording, detect, write, measure.

Decoding (reading, syncing, JPEG decoding, point accumulation) runs ahead in a thread so it overlaps inference;
torch, OpenCV and numpy release the GIL for their heavy work. At ``rate`` r > 0 a frame is due r times faster than
recording time; a frame that is late by more than the gap to its predecessor (a newer sweep would already have
arrived) is dropped and counted. ``rate`` 0 runs as fast as possible and drops nothing.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from tqdm import tqdm

from perception.inference import MODALITIES, Detector
from perception.models.config import DetectorConfig
from perception.replay.events import NS
from perception.replay.jobs import Job
from perception.replay.sinks import Sink
from perception.replay.stats import ReplayStats

PREFETCH_JOBS = 4
_END = object()


def prefetch(jobs: Iterator[Job], depth: int = PREFETCH_JOBS) -> Iterator[Job]:
    """The jobs, produced by a background thread up to ``depth`` ahead; its exceptions are raised here."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for job in jobs:
                put(job)
                if stop.is_set():
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    thread = threading.Thread(target=produce, name="replay-decode", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class Pacer:
    """Recording time → wall time at ``rate``, from the first frame on."""

    def __init__(self, rate: float):
        self.rate = rate
        self.start: tuple[float, int] | None = None
        self.previous_ns = 0

    def admit(self, time_ns: int) -> bool:
        """Sleep until the frame is due and return True, or return False for a frame to drop."""
        if self.rate <= 0:
            return True
        now = time.perf_counter()
        if self.start is None:
            self.start, self.previous_ns = (now, time_ns), time_ns
            return True
        due = self.start[0] + (time_ns - self.start[1]) / NS / self.rate
        gap = (time_ns - self.previous_ns) / NS / self.rate
        self.previous_ns = time_ns
        if now > due + gap:
            return False
        time.sleep(max(0.0, due - now))
        return True


def modality_of(job: Job, config: DetectorConfig) -> str | None:
    """'fused' when the sweep has points (missing cameras are simply absent), 'camera' for an empty sweep, None
    when the model has no input it can use."""
    if job.sweep_points and config.lidar.enabled:
        return "fused"
    return "camera" if job.frame.images and config.camera.enabled else None


@dataclass
class ReplayOptions:
    rate: float = 0.0
    progress: bool = True
    expected_frames: int | None = None  # for the progress bar


def run_jobs(jobs: Iterator[Job], detector: Detector, sinks: list[Sink], options: ReplayOptions) -> ReplayStats:
    """Detect on every job's frame and hand inputs and results to the sinks; closes the sinks (keeping their
    files only when the run completes)."""
    stats, pacer = ReplayStats(), Pacer(options.rate)
    bar = tqdm(total=options.expected_frames, unit="frame", desc="replay", disable=not options.progress)
    ok = False
    try:
        for job in prefetch(jobs):
            write_start = time.perf_counter()
            for sink in sinks:
                sink.passthrough(job)
            write_s = time.perf_counter() - write_start
            stats.faults += job.faults
            stats.missing_cameras.update(job.missing)
            if job.frame is None and not job.skipped:
                continue  # the messages after the last sweep
            bar.update()
            if job.skipped:
                stats.skip(job.time_ns, job.skipped)
                continue
            modality = modality_of(job, detector.config)
            if modality is None:
                stats.skip(job.time_ns, "no input the model uses (empty sweep, no camera image)")
                continue
            if not pacer.admit(job.time_ns):
                stats.dropped += 1
                continue
            boxes, seconds = detector.detect_timed(job.frame, MODALITIES[modality])
            stats.camera_only += modality == "camera"
            write_start = time.perf_counter()
            for sink in sinks:
                sink.detections(job, boxes)
            end = time.perf_counter()
            stats.add_frame({"decode": job.decode_s, **seconds, "write": write_s + end - write_start}, end)
            bar.set_postfix_str(f"{stats.recent_fps():.1f} fps | " + " ".join(
                f"{stage} {ms:.0f}" for stage, ms in stats.recent_ms().items()) + " ms", refresh=False)
        ok = True
    finally:
        bar.close()
        for sink in sinks:
            sink.close(ok)
    return stats

