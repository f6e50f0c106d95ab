"""The whole replayed drive as a Rerun recording (``replay.rrd``): every detected frame's points, cameras, ground
truth and detections (``perception.viz.rerun_export``'s entity tree)."""
from __future__ import annotations

from pathlib import Path

from perception.boxes import Boxes3D
from perception.replay.jobs import Job
from perception.replay.sinks import Sink
from perception.viz.rerun_export import RrdFile


class RerunSink(Sink):
    def __init__(self, path: str | Path):
        self.rrd = RrdFile(path)

    def detections(self, job: Job, boxes: Boxes3D) -> None:
        self.rrd.write(job.frame, boxes)

    def close(self, ok: bool) -> None:
        self.rrd.close(keep=ok)
