"""The replay loop as a pipeline of threads: decode → preprocess (and pacing) → model → one thread per sink.

Each stage runs in its own thread and hands its results on through a bounded queue, so the stages overlap while
memory stays flat whatever the recording's length (a stage that falls behind stops the ones before it). torch,
OpenCV and numpy release the GIL for their heavy work, so on a CPU the model runs while the next frame is decoded and
preprocessed and the previous one is rendered and written. Every sink gets its calls in input order from one thread,
so output messages keep their order. At ``rate`` r > 0 a frame is due r times faster than recording time; a frame
that is late by more than the gap to its predecessor (a newer sweep would already have arrived) is dropped and
counted. ``rate`` 0 runs as fast as possible and drops nothing.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from tqdm import tqdm

from perception.inference import MODALITIES, Detector
from perception.models.config import DetectorConfig
from perception.models.inputs import DetectorInput
from perception.replay.events import NS
from perception.replay.jobs import Job
from perception.replay.sinks import Sink
from perception.replay.stats import ReplayStats

PREFETCH_JOBS = 4   # decoded jobs waiting for preprocessing
PREPARED_JOBS = 2   # preprocessed jobs waiting for the model
SINK_BACKLOG = 3    # calls waiting for each sink
_END = object()


def prefetch(items: Iterable, depth: int = PREFETCH_JOBS, name: str = "replay-decode") -> Iterator:
    """The items, produced by a background thread up to ``depth`` ahead; its exceptions are raised here."""
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
        iterator = iter(items)
        try:
            for item in iterator:
                put(item)
                if stop.is_set():
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)
        finally:
            getattr(iterator, "close", lambda: None)()  # stops an upstream stage's thread too

    thread = threading.Thread(target=produce, name=name, daemon=True)
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


@dataclass
class Prepared:
    """A decoded job after the preprocess stage: the model input (None when the job gets no detections, with
    ``skip`` saying why, or ``dropped`` when it came too late) and the seconds spent preprocessing it."""

    index: int
    job: Job
    batch: DetectorInput | None = None
    modality: str | None = None
    skip: str = ""
    dropped: bool = False
    preprocess_s: float = 0.0


def prepare_jobs(jobs: Iterable[Job], detector: Detector, pacer: Pacer) -> Iterator[Prepared]:
    """The preprocess stage: each job numbered, admitted by the pacer and turned into model input."""
    for index, job in enumerate(jobs):
        prepared = Prepared(index, job)
        if job.frame is None:
            prepared.skip = job.skipped
        elif (modality := modality_of(job, detector.config)) is None:
            prepared.skip = "no input the model uses (empty sweep, no camera image)"
        elif not pacer.admit(job.time_ns):
            prepared.dropped = True
        else:
            start = time.perf_counter()
            prepared.modality = modality
            prepared.batch = detector.model_input(job.frame, MODALITIES[modality])
            prepared.preprocess_s = time.perf_counter() - start
        yield prepared


class SinkWorker:
    """A sink fed from its own thread through a bounded queue, in call order; the seconds it spends on each job go
    to the stats. An error in the sink is raised by the next ``call`` or by ``finish``."""

    def __init__(self, sink: Sink, stats: ReplayStats, backlog: int = SINK_BACKLOG):
        self.sink, self.stats = sink, stats
        self.calls: queue.Queue = queue.Queue(maxsize=backlog)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name=f"replay-{type(sink).__name__}", daemon=True)
        self.thread.start()

    def call(self, index: int, method: str, *args) -> None:
        """Queue ``sink.method(*args)`` for job ``index`` (waits while the backlog is full)."""
        self._raise_error()
        self.calls.put((index, method, args))

    def _work(self) -> None:
        while (item := self.calls.get()) is not _END:
            if self.error is not None:
                continue  # keep draining so the model thread never blocks on a dead sink
            index, method, args = item
            start = time.perf_counter()
            try:
                getattr(self.sink, method)(*args)
            except BaseException as error:
                self.error = error
            self.stats.add_write(index, time.perf_counter() - start)

    def finish(self) -> None:
        """Wait for the queued calls; raise the sink's error if it had one."""
        self.calls.put(_END)
        self.thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def run_jobs(jobs: Iterator[Job], detector: Detector, sinks: list[Sink], options: ReplayOptions) -> ReplayStats:
    """Detect on every job's frame and hand inputs and results to the sinks, each stage in its own thread; closes
    the sinks (keeping their files only when the run completes)."""
    stats, pacer = ReplayStats(), Pacer(options.rate)
    bar = tqdm(total=options.expected_frames, unit="frame", desc="replay", disable=not options.progress)
    workers = [SinkWorker(sink, stats) for sink in sinks]
    decoded = prefetch(jobs, PREFETCH_JOBS, "replay-decode")
    stages = [prefetch(prepare_jobs(decoded, detector, pacer), PREPARED_JOBS, "replay-preprocess"), decoded]
    ok = False
    try:
        for prepared in stages[0]:
            detect(prepared, detector, workers, stats)
            if prepared.job.frame is not None or prepared.job.skipped:  # not the messages after the last sweep
                bar.update()
                bar.set_postfix_str(progress_line(stats), refresh=False)
        for worker in workers:
            worker.finish()
        ok = True
    finally:
        bar.close()
        for stage in stages:  # stops and joins their threads, also when the run failed
            stage.close()
        for worker in workers:
            if worker.thread.is_alive():
                worker.calls.put(_END)
                worker.thread.join()
        for sink in sinks:
            sink.close(ok)
    return stats


def detect(prepared: Prepared, detector: Detector, workers: list[SinkWorker], stats: ReplayStats) -> None:
    """The model stage for one job: its input messages to the sinks, then its detections when it has input."""
    job, index = prepared.job, prepared.index
    for worker in workers:
        worker.call(index, "passthrough", job)
    stats.faults += job.faults
    stats.missing_cameras.update(job.missing)
    if prepared.skip:
        stats.skip(job.time_ns, prepared.skip)
    stats.dropped += prepared.dropped
    if prepared.batch is None:
        return
    boxes, seconds = detector.infer(prepared.batch, job.frame.token)
    stats.camera_only += prepared.modality == "camera"
    stats.add_frame(index, {"decode": job.decode_s, "preprocess": prepared.preprocess_s, **seconds},
                    time.perf_counter())
    for worker in workers:
        worker.call(index, "detections", job, boxes)


def progress_line(stats: ReplayStats) -> str:
    """Frames per second and mean milliseconds per stage over the last frames."""
    if not stats.detected:
        return ""
    return f"{stats.recent_fps():.1f} fps | " + " ".join(
        f"{stage} {ms:.0f}" for stage, ms in stats.recent_ms().items()) + " ms"
