"""ROS 2 bags of a nuScenes-format scene, written with ``mcap_ros2``'s writer and full ros2msg schema texts (not
through the project's to-mcap), in the point layouts and topic names a real robot might use."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from mcap_ros2.writer import Writer

from calib.se3 import transform_points
from perception.replay.events import NS, CameraImage, CameraInfo, LidarSweep, Transform
from perception.replay.ros2_msgdefs import SCHEMAS
from perception.replay.topics import KEYFRAMES_METADATA

FLOAT32, FLOAT64, UINT16 = 7, 8, 4
POINT_TIME_SPAN_S = 0.0625  # per-point times run from the stamp to this much later (exact in float32)


@dataclass
class BagLayout:
    """How to write the scene: ``points``: 'xyzirt' (x, y, z, intensity, ring, time; point_step 22, lidar frame) or
    'xyz64' (x, y, z float64 in base_link); cameras as compressed or raw bgr8; ego pose map → base_link or
    map → odom (static) → base_link."""

    points: str
    lidar_topic: str
    image_topic: str       # format string over the camera name
    raw_cameras: tuple[str, ...] = ()
    via_odom: bool = False
    left_out: tuple[str, ...] = ()       # cameras not written at all
    without_info: tuple[str, ...] = ()   # cameras written without their CameraInfo


def stamp(time_ns: int) -> dict:
    return {"sec": time_ns // NS, "nanosec": time_ns % NS}


def header(time_ns: int, frame: str) -> dict:
    return {"stamp": stamp(time_ns), "frame_id": frame}


def field(name: str, offset: int, datatype: int) -> dict:
    return {"name": name, "offset": offset, "datatype": datatype, "count": 1}


def cloud_xyzirt(sweep: LidarSweep) -> dict:
    """22-byte points: x, y, z, intensity float32, ring uint16, time float32 (from the stamp, newest at the
    sweep's time)."""
    n = len(sweep.points)
    dtype = np.dtype({"names": ["x", "y", "z", "intensity", "ring", "time"],
                      "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f4"], "offsets": [0, 4, 8, 12, 16, 18],
                      "itemsize": 22})
    packed = np.zeros(n, dtype)
    for i, name in enumerate(("x", "y", "z", "intensity")):
        packed[name] = sweep.points[:, i]
    packed["ring"] = np.arange(n) % 32
    packed["time"] = np.linspace(0, POINT_TIME_SPAN_S, n).astype(np.float32)
    start = sweep.time_ns - round(POINT_TIME_SPAN_S * NS)
    fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32), field("intensity", 12, FLOAT32),
              field("ring", 16, UINT16), field("time", 18, FLOAT32)]
    return {"header": header(start, sweep.frame_id), "height": 1, "width": n, "fields": fields,
            "is_bigendian": False, "point_step": 22, "row_step": 22 * n, "data": packed.tobytes(), "is_dense": True}


def cloud_xyz64(sweep: LidarSweep, ego_from_lidar: np.ndarray) -> dict:
    """x, y, z float64 in base_link (no intensity)."""
    xyz = transform_points(ego_from_lidar, sweep.points[:, :3].astype(np.float64))
    fields = [field(name, 8 * i, FLOAT64) for i, name in enumerate("xyz")]
    return {"header": header(sweep.time_ns, "base_link"), "height": 1, "width": len(xyz), "fields": fields,
            "is_bigendian": False, "point_step": 24, "row_step": 24 * len(xyz),
            "data": np.ascontiguousarray(xyz, "<f8").tobytes(), "is_dense": True}


def camera_info(info: CameraInfo) -> dict:
    k = [float(v) for v in info.intrinsics.reshape(9)]
    return {"header": header(info.time_ns, info.frame_id), "height": info.height, "width": info.width,
            "distortion_model": "plumb_bob", "d": [0.0] * 5, "k": k, "r": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
            "p": [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]}


def image(event: CameraImage, raw: bool) -> dict:
    if not raw:
        return {"header": header(event.time_ns, event.frame_id), "format": event.format, "data": event.data}
    bgr = cv2.cvtColor(event.decode(), cv2.COLOR_RGB2BGR)
    return {"header": header(event.time_ns, event.frame_id), "height": bgr.shape[0], "width": bgr.shape[1],
            "encoding": "bgr8", "is_bigendian": 0, "step": bgr.shape[1] * 3, "data": bgr.tobytes()}


def tf(transforms: list[tuple[int, str, str, np.ndarray, np.ndarray]]) -> dict:
    """(time, parent, child, translation, wxyz) → TFMessage."""
    return {"transforms": [{"header": header(t, parent), "child_frame_id": child,
                            "transform": {"translation": dict(zip("xyz", map(float, xyz))),
                                          "rotation": dict(zip("wxyz", map(float, wxyz)))}}
                           for t, parent, child, xyz, wxyz in transforms]}


def write_bag(source, layout: BagLayout, path, keyframes: dict[str, str] | None = None):
    """Write the ``NuScenesSource``'s scene as a ROS 2 bag: sensor mounts once on /tf_static, ego poses on /tf."""
    with open(path, "wb") as file:
        writer = Writer(file)
        schemas = {name: writer.register_msgdef(name, text) for name, text in SCHEMAS.items()}
        if keyframes:
            writer.add_metadata(KEYFRAMES_METADATA, keyframes)
        mounts: dict[str, Transform] = {}
        for recorded in source:
            time_ns = recorded.log_time_ns
            pose, mount = recorded.events[0], recorded.events[1]
            if mount.child not in mounts:
                mounts[mount.child] = mount
                static = [(time_ns, mount.parent, mount.child, mount.translation, mount.rotation_wxyz)]
                if layout.via_odom and len(mounts) == 1:
                    static.append((time_ns, "map", "odom", np.zeros(3), np.array([1.0, 0, 0, 0])))
                writer.write_message("/tf_static", schemas["tf2_msgs/msg/TFMessage"], tf(static), time_ns)
            parent = "odom" if layout.via_odom else pose.parent
            writer.write_message("/tf", schemas["tf2_msgs/msg/TFMessage"],
                                 tf([(time_ns, parent, pose.child, pose.translation, pose.rotation_wxyz)]), time_ns)
            for event in recorded.events[2:]:
                write_event(writer, schemas, layout, event, mount, time_ns)
        writer.finish()
    return path


def write_event(writer, schemas, layout: BagLayout, event, mount: Transform, time_ns: int) -> None:
    if getattr(event, "camera", "") in layout.left_out or \
            (isinstance(event, CameraInfo) and event.camera in layout.without_info):
        return
    if isinstance(event, LidarSweep):
        message = cloud_xyzirt(event) if layout.points == "xyzirt" else cloud_xyz64(event, mount.parent_from_child)
        writer.write_message(layout.lidar_topic, schemas["sensor_msgs/msg/PointCloud2"], message, time_ns)
    elif isinstance(event, CameraInfo):
        writer.write_message(f"/{event.camera}/camera_info", schemas["sensor_msgs/msg/CameraInfo"],
                             camera_info(event), time_ns)
    elif isinstance(event, CameraImage):
        raw = event.camera in layout.raw_cameras
        schema = schemas["sensor_msgs/msg/Image" if raw else "sensor_msgs/msg/CompressedImage"]
        topic = f"/{event.camera}/image_raw" if raw else layout.image_topic.format(event.camera)
        writer.write_message(topic, schema, image(event, raw), time_ns)
