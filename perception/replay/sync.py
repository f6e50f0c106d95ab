"""Sensor sync: pair every lidar sweep with the nearest image of each camera, within a tolerance.

Messages arrive in log order, which is close to but not exactly sensor-time order (nuscenes2mcap logs a keyframe's
camera images at the lidar's time). A sweep is therefore held until the recording has moved ``tolerance +
REORDER_SLACK`` past it, so images taken after the sweep, and ego poses around it, have arrived.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from perception.data.sensor_files import image_size_mismatch
from perception.errors import DataError
from perception.replay.events import NS, CameraImage, CameraInfo, Fault, LidarSweep, SensorEvent, Transform
from perception.replay.transforms import TransformBuffer

DEFAULT_TOLERANCE_MS = 50.0  # nuScenes cameras fire within ±50 ms of the lidar sweep they belong to

REORDER_SLACK_NS = NS // 10
KEEP_IMAGES_NS = NS  # images this much older than the newest message can no longer be the nearest to a sweep


@dataclass
class SyncedSweep:
    """A sweep with what the detector needs around it.

    past: up to ``num_sweeps`` earlier sweeps, newest first. images: camera → (message, RGB (H, W, 3) uint8).
    missing: cameras known in the recording without a usable image within the tolerance of this sweep.
    """

    sweep: LidarSweep
    past: list[LidarSweep]
    images: dict[str, tuple[CameraImage, np.ndarray]]
    calibrations: dict[str, CameraInfo]
    missing: list[str]
    faults: list[Fault] = field(default_factory=list)


class Synchronizer:
    """Consumes sensor events in log order and hands out each sweep once its surroundings have arrived.

    With ``keyframes_only``, only sweeps that carry a sample token are handed out; all sweeps still feed the
    multi-sweep history.
    """

    def __init__(self, transforms: TransformBuffer, num_sweeps: int, tolerance_ns: int, keyframes_only: bool):
        self.transforms, self.num_sweeps, self.tolerance_ns = transforms, num_sweeps, tolerance_ns
        self.keyframes_only = keyframes_only
        self.clock_ns = None
        self._sweeps: list[LidarSweep] = []   # time order: pending ones and the history before them
        self._pending: list[LidarSweep] = []
        self._images: dict[str, list[CameraImage]] = {}  # camera → time order
        self._calibrations: dict[str, CameraInfo] = {}

    def push(self, event: SensorEvent) -> list[SyncedSweep]:
        """Take one event; return the sweeps it completed."""
        self.clock_ns = event.time_ns if self.clock_ns is None else max(self.clock_ns, event.time_ns)
        if isinstance(event, LidarSweep):
            index = bisect.bisect([s.time_ns for s in self._sweeps], event.time_ns)
            self._sweeps.insert(index, event)
            if event.sample_token or not self.keyframes_only:
                bisect.insort(self._pending, event, key=lambda s: s.time_ns)
        elif isinstance(event, CameraImage):
            bisect.insort(self._images.setdefault(event.camera, []), event, key=lambda i: i.time_ns)
        elif isinstance(event, CameraInfo):
            self._calibrations[event.camera] = event
            self._images.setdefault(event.camera, [])
        elif isinstance(event, Transform):
            self.transforms.add(event)
        wait_ns = self.tolerance_ns + REORDER_SLACK_NS
        ready = [s for s in self._pending if s.time_ns + wait_ns <= self.clock_ns]
        synced = [self._complete(sweep) for sweep in ready]
        self._forget_old()
        return synced

    def finish(self) -> list[SyncedSweep]:
        """The sweeps still waiting at the end of the recording."""
        return [self._complete(sweep) for sweep in list(self._pending)]

    def _complete(self, sweep: LidarSweep) -> SyncedSweep:
        self._pending.remove(sweep)
        index = next(i for i, s in enumerate(self._sweeps) if s is sweep)
        past = self._sweeps[max(0, index - self.num_sweeps):index][::-1]
        synced = SyncedSweep(sweep, past, {}, {}, [])
        for camera, images in self._images.items():
            chosen = self._nearest_image(camera, images, sweep.time_ns, synced.faults)
            if chosen is None or camera not in self._calibrations:
                synced.missing.append(camera)
            else:
                synced.images[camera] = chosen
                synced.calibrations[camera] = self._calibrations[camera]
        return synced

    def _nearest_image(self, camera: str, images: list[CameraImage], time_ns: int,
                       faults: list[Fault]) -> tuple[CameraImage, np.ndarray] | None:
        """The usable image nearest in time within the tolerance (the newer one on a tie); corrupt ones (undecodable,
        truncated, or of another size than the camera's calibration) are reported once and forgotten."""
        calibration = self._calibrations.get(camera)
        candidates = [i for i in images if abs(i.time_ns - time_ns) <= self.tolerance_ns]
        for image in sorted(candidates, key=lambda i: (abs(i.time_ns - time_ns), -i.time_ns)):
            try:
                rgb = image.decode()
                problem = image_size_mismatch(rgb, calibration.width, calibration.height) if calibration else ""
            except DataError as error:
                problem = f"cannot be decoded: {error.reason}"
            if not problem:
                return image, rgb
            images.remove(image)
            faults.append(Fault("corrupt", image.topic or camera, image.log_time_ns,
                                f"{camera} image ({image.format}, {len(image.data)} bytes) {problem}"))
        return None

    def _forget_old(self) -> None:
        """Drop images and sweeps no pending or future sweep can use."""
        horizon = min([s.time_ns for s in self._pending] + [self.clock_ns]) - KEEP_IMAGES_NS
        for images in self._images.values():
            del images[:bisect.bisect([i.time_ns for i in images], horizon)]
        first_needed = self._sweeps.index(self._pending[0]) if self._pending else len(self._sweeps)
        del self._sweeps[:max(0, first_needed - self.num_sweeps)]
