"""Where replay results go: an MCAP for Foxglove, a nuScenes results JSON, an MP4. All are written atomically.

A sink gets every input message (``passthrough``), every detected frame (``detections``) and ``close(ok)``; a run
that fails leaves no partial file behind, except the nuScenes results of the frames already done: those are
appended as they come to ``results.partial.jsonl`` and kept when the run fails.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from perception.boxes import Boxes3D
from perception.data.results import boxes_to_results, write_results
from perception.replay.events import NS
from perception.replay.foxglove_detections import image_annotations, scene_update
from perception.replay.foxglove_layout import LayoutRecorder
from perception.replay.jobs import Job
from perception.replay.mcap_output import McapOutput
from perception.replay.ros2_encode import MARKER_ARRAY, MARKERS_SUFFIX, Ros2Serializer, marker_array
from perception.replay.topics import TopicMap
from perception.viz.fused import fused_frame
from perception.viz.images import VideoFile
from perception.viz.style import DEFAULT_MIN_SCORE

VIDEO_WIDTH = 480  # per camera tile
VIDEO_FPS_RANGE = (1.0, 30.0)


class Sink:
    """Does nothing with what it is given; sinks override the parts they use."""

    def passthrough(self, job: Job) -> None:
        pass

    def detections(self, job: Job, boxes: Boxes3D) -> None:
        pass

    def close(self, ok: bool) -> None:
        pass


class McapSink(Sink):
    """The input topics unchanged, plus the boxes of every frame (``topics.detections``, in the ego frame at the
    sweep's time) and their projection into each camera image of the frame (at that image's time). When the input
    is ROS 2 (CDR), the boxes also go out as a ``MarkerArray`` on ``topics.detections`` + ``/markers``. A Foxglove
    layout for the file is written next to it."""

    def __init__(self, path: str | Path, topics: TopicMap, metadata: Callable[[], dict[str, dict[str, str]]]):
        """``metadata``: the input's metadata records so far (a recording's are read on the way)."""
        self.topics, self.metadata = topics, metadata
        self.out = McapOutput(path)
        self.written_metadata: set[str] = set()
        self.ros2_input, self.serializer = False, Ros2Serializer()
        self.layout = LayoutRecorder(topics)

    def passthrough(self, job: Job) -> None:
        self._write_new_metadata()  # before the messages, so a replay of this file meets it first
        for recorded in job.recorded:
            self.out.write_recorded(recorded, self.topics)
            self.ros2_input |= recorded.raw is not None and recorded.raw.channel.message_encoding == "cdr"
            self.layout.observe(recorded)

    def _write_new_metadata(self) -> None:
        for name, values in self.metadata().items():
            if name not in self.written_metadata:
                self.out.add_metadata(name, values)
                self.written_metadata.add(name)

    def detections(self, job: Job, boxes: Boxes3D) -> None:
        self.out.write(self.topics.detections, scene_update(boxes, job.time_ns, self.topics.ego_frame), job.time_ns)
        if self.ros2_input:
            markers = marker_array(boxes, job.time_ns, self.topics.ego_frame)
            self.out.write_cdr(self.topics.detections + MARKERS_SUFFIX, MARKER_ARRAY,
                               self.serializer.serialize(MARKER_ARRAY, markers), job.time_ns)
        for name, camera in job.frame.rig.cameras.items():
            time_ns = job.camera_times_ns[name]
            self.out.write(self.topics.camera(name).annotations, image_annotations(camera, boxes, time_ns), time_ns)

    def close(self, ok: bool) -> None:
        if ok:
            self._write_new_metadata()
        self.out.close(keep=ok)
        if ok:
            self.layout.write(self.out.path)


class ResultsSink(Sink):
    """nuScenes detection results of the frames that are keyframes (have a sample token), written to ``path`` when
    the run completes; until then each keyframe's entries are appended to ``partial_path`` as one JSON line
    ``{"sample_token": ..., "results": [...]}``, which is deleted on success and kept when the run fails."""

    def __init__(self, path: str | Path, use_camera: bool, use_lidar: bool):
        self.path, self.use_camera, self.use_lidar = Path(path), use_camera, use_lidar
        self.partial_path = self.path.with_suffix(".partial.jsonl")
        self.results: dict[str, list[dict]] = {}
        self._partial = None

    def detections(self, job: Job, boxes: Boxes3D) -> None:
        if not job.sample_token:
            return
        entries = boxes_to_results(boxes, job.frame.global_from_ego, job.sample_token)
        if self._partial is None:
            self._partial = open(self.partial_path, "a")
        self._partial.write(json.dumps({"sample_token": job.sample_token, "results": entries}) + "\n")
        self._partial.flush()
        self.results[job.sample_token] = entries  # counted once its line is written

    def close(self, ok: bool) -> None:
        if self._partial is not None:
            self._partial.close()
        if ok and self.results:
            write_results(self.path, self.results, self.use_camera, self.use_lidar)
        if ok:
            self.partial_path.unlink(missing_ok=True)


class VideoSink(Sink):
    """The fused view (camera ring + BEV) with confident detections, one video frame per detected frame with images.

    The frame rate is the recording's (from the first two frames' times); every image keeps the first one's size
    (a frame missing a camera is resized to it).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.video: VideoFile | None = None
        self.first: tuple[int, np.ndarray] | None = None

    def detections(self, job: Job, boxes: Boxes3D) -> None:
        if not job.frame.images:
            return
        image = fused_frame(job.frame, boxes.select(boxes.scores >= DEFAULT_MIN_SCORE), tile_width=VIDEO_WIDTH)
        if self.first is None:
            self.first = (job.time_ns, image)
            return
        if self.video is None:
            self._open(fps=NS / max(job.time_ns - self.first[0], 1))
        height, width = self.first[1].shape[:2]
        self.video.write(image if image.shape[:2] == (height, width) else cv2.resize(image, (width, height)))

    def _open(self, fps: float) -> None:
        self.video = VideoFile(self.path, fps=float(np.clip(fps, *VIDEO_FPS_RANGE))).__enter__()
        self.video.write(self.first[1])

    def close(self, ok: bool) -> None:
        if self.first is not None and self.video is None and ok:
            self._open(fps=VIDEO_FPS_RANGE[0])
        if self.video is not None:
            self.video.__exit__(None if ok else RuntimeError, None, None)
