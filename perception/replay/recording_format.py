"""Recordings in formats other than MCAP, recognised by their first bytes so the error says what to do."""
from __future__ import annotations

from pathlib import Path

from perception.errors import DataError

ROSBAG1_MAGIC = b"#ROSBAG V2.0"
SQLITE_MAGIC = b"SQLite format 3\x00"


def reject_other_formats(path: Path) -> None:
    """Raise DataError for a ROS 1 bag or a ROS 2 sqlite3 bag (neither is read); anything else passes."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError:
        return  # a missing file is reported where it is opened
    if head.startswith(ROSBAG1_MAGIC):
        raise DataError("a ROS 1 bag (rosbag1) is out of scope: only MCAP recordings are read; convert it with "
                        "`mcap convert` (or record with ROS 2's `ros2 bag record -s mcap`)", path)
    if head == SQLITE_MAGIC:
        raise DataError("a ROS 2 sqlite3 bag: only MCAP recordings are read; convert it with `ros2 bag convert` "
                        "to the mcap storage", path)
