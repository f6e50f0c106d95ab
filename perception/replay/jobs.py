"""The decode stage: recorded messages → synced sweeps → ``Frame`` jobs for the detector.

Each job also carries the input messages read since the previous one (for pass-through) and the faults met, so
the consumer writes everything in one thread and in input order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from perception.data.frame import Frame
from perception.replay.events import Fault, Recorded
from perception.replay.frames import SkippedSweep, build_frame
from perception.replay.sync import SyncedSweep, Synchronizer


@dataclass
class Job:
    """A sweep to detect on (``frame``; None when it was skipped, see ``skipped``, or for the trailing messages).

    time_ns: the sweep's time; camera_times_ns: time of each image in the frame; sweep_points: points of the
    sweep itself (0: an empty sweep, run camera-only); decode_s: time spent reading and building it.
    """

    recorded: list[Recorded]
    frame: Frame | None = None
    time_ns: int = 0
    sample_token: str = ""
    camera_times_ns: dict[str, int] = field(default_factory=dict)
    sweep_points: int = 0
    missing: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    skipped: str = ""
    decode_s: float = 0.0


def job_of(synced: SyncedSweep, synchronizer: Synchronizer, scene_name: str, recorded: list[Recorded]) -> Job:
    sweep = synced.sweep
    job = Job(recorded, time_ns=sweep.time_ns, sample_token=sweep.sample_token, sweep_points=len(sweep.points))
    try:
        job.frame = build_frame(synced, synchronizer.transforms, scene_name)
        job.camera_times_ns = {name: synced.images[name][0].time_ns for name in job.frame.images}
    except SkippedSweep as reason:
        job.skipped = str(reason)
    job.missing, job.faults = synced.missing, synced.faults
    return job


def decode_jobs(source: Iterable[Recorded], synchronizer: Synchronizer) -> Iterator[Job]:
    """Jobs in sweep order, then one job with the messages after the last sweep. ``decode_s`` counts the time
    spent here for the job, not the time its consumer kept this generator waiting. ``source.scene_name`` is read
    per job: a recording may name its scene in metadata read on the way."""
    pending: list[Recorded] = []
    faults: list[Fault] = []
    start = time.perf_counter()
    messages = iter(source)
    while True:
        recorded = next(messages, None)
        synced_sweeps = synchronizer.finish() if recorded is None else \
            [s for event in recorded.events for s in synchronizer.push(event)]
        if recorded is not None:
            pending.append(recorded)
            faults += [recorded.fault] if recorded.fault else []
        for synced in synced_sweeps:
            job = job_of(synced, synchronizer, source.scene_name, pending)
            job.faults = faults + job.faults
            job.decode_s = time.perf_counter() - start
            pending, faults = [], []
            yield job
            start = time.perf_counter()
        if recorded is None:
            break
    yield Job(pending, faults=faults)
