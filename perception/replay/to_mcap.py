"""``perception data to-mcap``: a nuScenes scene (real or synthetic) as an MCAP recording in nuscenes2mcap's layout,
with Foxglove schemas or (``ros2``) as a ROS 2 bag with the same topics (``ros2_encode``).

Lidar points in the lidar frame (``foxglove.PointCloud``), the camera files' bytes (``foxglove.CompressedImage``,
not re-encoded), intrinsics (``foxglove.CameraCalibration``) and ``foxglove.FrameTransforms`` with the ego pose
(world → ego) at each message's time and the sensor's mount (ego → sensor); metadata records name the scene and
the sample token of each keyframe sweep, so a replay of the file can write nuScenes results.
"""
from __future__ import annotations

import logging
from pathlib import Path

from perception.replay.foxglove_layout import LayoutRecorder
from perception.replay.mcap_output import McapOutput
from perception.replay.nuscenes_source import NuScenesSource
from perception.replay.ros2_encode import Ros2Events, Ros2Serializer

log = logging.getLogger(__name__)


def write_recording(source: NuScenesSource, path: str | Path, format: str = "foxglove") -> dict[str, int]:
    """Write the scene to ``path`` atomically in ``format`` ('foxglove' or 'ros2'), with a Foxglove layout beside
    it; return how many sample_data records it holds and how many of their files could not be read (those keep only
    their transforms)."""
    written = unreadable = 0
    ros2_events, serializer, layout = Ros2Events(source.topics), Ros2Serializer(), LayoutRecorder(source.topics)
    with McapOutput(path) as out:
        for name, values in source.metadata().items():
            out.add_metadata(name, values)
        for recorded in source:
            if recorded.fault is not None:
                log.warning("skipped %s at %d ns: %s", recorded.fault.topic, recorded.fault.log_time_ns,
                            recorded.fault.reason)
                unreadable += 1
            if format == "ros2":
                for topic, schema_name, message in ros2_events.encode(recorded.events):
                    out.write_cdr(topic, schema_name, serializer.serialize(schema_name, message),
                                  recorded.log_time_ns)
            else:
                out.write_recorded(recorded, source.topics)
            layout.observe(recorded)
            written += 1
    layout.write(path)
    return {"sample_data": written, "unreadable": unreadable}
