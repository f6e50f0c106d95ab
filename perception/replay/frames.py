"""A synced sweep as the detector's ``Frame``: points and cameras in the ego frame at the sweep's time.

The geometry is the nuScenes loader's (``sweep_points``, ``camera_at_lidar_time``), with poses taken here from the
recording's transforms instead of the tables, with the same operations in the same order so both give the same
numbers for the same data.
"""
from __future__ import annotations

import cv2
import numpy as np

from calib import Camera, CalibrationError, Lidar, Rig
from calib.se3 import invert
from perception.data.frame import Frame, camera_at_lidar_time, sweep_points
from perception.replay.events import NS, CameraInfo, Fault, LidarSweep
from perception.replay.sync import SyncedSweep
from perception.replay.transforms import TransformBuffer


MAX_SWEEP_AGE_NS = 2 * NS  # an older past sweep is from before a gap in the recording (another drive)


class SkippedSweep(Exception):
    """A sweep no frame can be built for (its ego pose or lidar mount is unknown); the message says why."""


def accumulate_points(sweeps: list[LidarSweep], transforms: TransformBuffer, key_time_ns: int,
                      ego_from_world: np.ndarray) -> np.ndarray:
    """Points (N, 5) ``x, y, z, intensity, dt`` of the sweeps (key sweep first) in the ego frame at ``key_time_ns``.

    Each sweep moves by the ego motion between its time and the key time; ``dt`` is its age in seconds. A past
    sweep whose pose is unknown, or older than ``MAX_SWEEP_AGE_NS``, is left out.
    """
    clouds = []
    for sweep in sweeps:
        if key_time_ns - sweep.time_ns > MAX_SWEEP_AGE_NS:
            continue
        world_from_ego, ego_from_lidar = transforms.world_from_ego(sweep.time_ns), transforms.ego_from(sweep.frame_id)
        if world_from_ego is None or ego_from_lidar is None:
            continue
        key_from_lidar = ego_from_world @ world_from_ego @ ego_from_lidar
        clouds.append(sweep_points(sweep.points, key_from_lidar, (key_time_ns - sweep.time_ns) / NS))
    return np.concatenate(clouds) if clouds else np.zeros((0, 5), np.float32)


def pinhole_view(rgb: np.ndarray, info: CameraInfo) -> np.ndarray:
    """An equidistant (fisheye) image (H, W, 3) resampled to the pinhole camera of the same K, which the model and
    the box projections use; other images unchanged."""
    if not info.fisheye:
        return rgb
    return cv2.fisheye.undistortImage(rgb, info.intrinsics, info.distortion, Knew=info.intrinsics)


def build_frame(synced: SyncedSweep, transforms: TransformBuffer, scene_name: str = "") -> Frame:
    """The ``Frame`` of a synced sweep; cameras whose pose or calibration is unusable are left out and added to
    ``synced.missing`` (and ``synced.faults`` for a bad calibration). Raises SkippedSweep."""
    sweep = synced.sweep
    world_from_ego = transforms.world_from_ego(sweep.time_ns)
    ego_from_lidar = transforms.ego_from(sweep.frame_id)
    if world_from_ego is None:
        raise SkippedSweep(f"no {transforms.world_frame}→{transforms.ego_frame} transform near the sweep's time")
    if ego_from_lidar is None:
        raise SkippedSweep(f"lidar frame '{sweep.frame_id}' is not connected to '{transforms.ego_frame}'")
    ego_from_world = invert(world_from_ego)

    cameras, images, times = {}, {}, {}
    for name, (image, rgb) in synced.images.items():
        info = synced.calibrations[name]
        world_from_ego_at_camera = transforms.world_from_ego(image.time_ns)
        ego_from_camera = transforms.ego_from(image.frame_id or info.frame_id)
        if world_from_ego_at_camera is None or ego_from_camera is None:
            synced.missing.append(name)
            continue
        try:
            camera = Camera(name, info.intrinsics, info.width, info.height, ego_from_camera,
                            None if info.fisheye else info.distortion)
        except CalibrationError as error:
            synced.faults.append(Fault("corrupt", name, info.time_ns, f"unusable calibration: {error}"))
            synced.missing.append(name)
            continue
        cameras[name] = camera_at_lidar_time(camera, ego_from_world, world_from_ego_at_camera)
        images[name], times[name] = pinhole_view(rgb, info), image.time_ns / NS
    points = accumulate_points([sweep, *synced.past], transforms, sweep.time_ns, ego_from_world)
    return Frame(token=sweep.sample_token or str(sweep.time_ns), timestamp=sweep.time_ns / NS, points=points,
                 images=images, rig=Rig(cameras=cameras, lidar=Lidar(sweep.frame_id, ego_from_lidar)),
                 global_from_ego=world_from_ego, boxes=sweep.ground_truth, scene_name=scene_name,
                 camera_timestamps=times)
