"""``perception data to-mcap``: a nuScenes scene (real or synthetic) as an MCAP recording in nuscenes2mcap's layout.

Lidar points in the lidar frame (``foxglove.PointCloud``), the camera files' bytes (``foxglove.CompressedImage``,
not re-encoded), intrinsics (``foxglove.CameraCalibration``) and ``foxglove.FrameTransforms`` with the ego pose
(world → ego) at each message's time and the sensor's mount (ego → sensor); metadata records name the scene and
the sample token of each keyframe sweep, so a replay of the file can write nuScenes results.
"""
from __future__ import annotations

import logging
from pathlib import Path

from perception.replay.mcap_output import McapOutput
from perception.replay.nuscenes_source import NuScenesSource

log = logging.getLogger(__name__)


def write_recording(source: NuScenesSource, path: str | Path) -> dict[str, int]:
    """Write the scene to ``path`` atomically; return how many sample_data records it holds and how many of their
    files could not be read (those keep only their transforms)."""
    written = unreadable = 0
    with McapOutput(path) as out:
        for name, values in source.metadata().items():
            out.add_metadata(name, values)
        for recorded in source:
            if recorded.fault is not None:
                log.warning("skipped %s at %d ns: %s", recorded.fault.topic, recorded.fault.log_time_ns,
                            recorded.fault.reason)
                unreadable += 1
            out.write_recorded(recorded, source.topics)
            written += 1
    return {"sample_data": written, "unreadable": unreadable}
