"""Sensor events → Foxglove messages (``foxglove.messages``, protobuf-encoded in MCAP) on the mapped topics."""
from __future__ import annotations

import numpy as np
from foxglove import messages as fm

from perception.replay.events import NS, CameraImage, CameraInfo, LidarSweep, SensorEvent, Transform
from perception.replay.topics import TopicMap

POINT_FIELDS = ("x", "y", "z", "intensity")


def timestamp(time_ns: int) -> fm.Timestamp:
    return fm.Timestamp(sec=time_ns // NS, nsec=time_ns % NS)


def vector3(xyz) -> fm.Vector3:
    return fm.Vector3(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def quaternion(wxyz) -> fm.Quaternion:
    w, x, y, z = (float(v) for v in wxyz)
    return fm.Quaternion(x=x, y=y, z=z, w=w)


def pose(translation, rotation_wxyz) -> fm.Pose:
    return fm.Pose(position=vector3(translation), orientation=quaternion(rotation_wxyz))


def point_cloud(sweep: LidarSweep) -> fm.PointCloud:
    """The sweep's (N, 4) float32 points, packed as little-endian float32 ``x, y, z, intensity``."""
    fields = [fm.PackedElementField(name=name, offset=4 * i, type=fm.PackedElementFieldNumericType.Float32)
              for i, name in enumerate(POINT_FIELDS)]
    return fm.PointCloud(timestamp=timestamp(sweep.time_ns), frame_id=sweep.frame_id,
                         pose=pose(np.zeros(3), (1.0, 0.0, 0.0, 0.0)), point_stride=4 * len(POINT_FIELDS),
                         fields=fields, data=np.ascontiguousarray(sweep.points[:, :4], dtype="<f4").tobytes())


def compressed_image(image: CameraImage) -> fm.CompressedImage:
    return fm.CompressedImage(timestamp=timestamp(image.time_ns), frame_id=image.frame_id, data=image.data,
                              format=image.format)


def camera_calibration(info: CameraInfo) -> fm.CameraCalibration:
    """K, and the rectified-image R = I and P = [K | 0]; D and its model only when the image is distorted."""
    k = [float(v) for v in info.intrinsics.reshape(9)]
    distortion = [] if info.distortion is None else [float(v) for v in info.distortion]
    return fm.CameraCalibration(timestamp=timestamp(info.time_ns), frame_id=info.frame_id, width=info.width,
                                height=info.height, distortion_model="plumb_bob" if distortion else "",
                                D=distortion, K=k, R=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                                P=[*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0])


def frame_transforms(transforms: list[Transform]) -> fm.FrameTransforms:
    return fm.FrameTransforms(transforms=[
        fm.FrameTransform(timestamp=timestamp(t.time_ns), parent_frame_id=t.parent, child_frame_id=t.child,
                          translation=vector3(t.translation), rotation=quaternion(t.rotation_wxyz))
        for t in transforms])


def encode_events(events: list[SensorEvent], topics: TopicMap) -> list[tuple[str, object]]:
    """(topic, Foxglove message) pairs of one input message's events; its transforms go out as one message."""
    out = []
    transforms = [e for e in events if isinstance(e, Transform)]
    if transforms:
        out.append((topics.transforms[0], frame_transforms(transforms)))
    for event in events:
        if isinstance(event, LidarSweep):
            out.append((topics.lidar, point_cloud(event)))
        elif isinstance(event, CameraInfo):
            out.append((topics.camera(event.camera).calibration, camera_calibration(event)))
        elif isinstance(event, CameraImage):
            out.append((topics.camera(event.camera).image, compressed_image(event)))
    return out
