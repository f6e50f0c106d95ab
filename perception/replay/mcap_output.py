"""Writing an MCAP file atomically: Foxglove messages, ROS 2 (CDR) messages, raw pass-through messages and metadata.

The file is written under a temporary name in the same folder and renamed only when it was closed cleanly, so a
crash or an interrupted run never leaves a half-written recording under the final name; the temporary files of
killed runs are removed when the next one starts (``calib.atomic.remove_stale_temps``).
"""
from __future__ import annotations

import os
from pathlib import Path

from calib.atomic import remove_stale_temps, temp_prefix

from mcap.writer import CompressionType, Writer

from perception.replay.events import Recorded
from perception.replay.events import LidarSweep
from perception.replay.foxglove_detections import scene_update
from perception.replay.foxglove_encode import encode_events
from perception.replay.ros2_msgdefs import SCHEMAS as ROS2_SCHEMAS
from perception.replay.topics import TopicMap

LIBRARY = "perception replay"


class McapOutput:
    """``with McapOutput(path) as out: out.write(topic, foxglove_message, log_time_ns)``."""

    def __init__(self, path: str | Path, compression: CompressionType = CompressionType.ZSTD):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path.parent)
        self.tmp = self.path.with_name(f"{temp_prefix(self.path.name)}writing.tmp")
        self._file = open(self.tmp, "wb")
        self._writer = Writer(self._file, compression=compression)
        self._writer.start(profile="", library=LIBRARY)
        self._schemas: dict[tuple, int] = {}
        self._channels: dict[tuple, int] = {}
        self._sequence: dict[int, int] = {}

    def write(self, topic: str, message, log_time_ns: int) -> None:
        """A ``foxglove.messages`` message, protobuf-encoded with its schema."""
        schema = message.get_schema()
        self._add(self._channel(topic, "protobuf", self._schema(schema.name, schema.encoding, bytes(schema.data))),
                  message.encode(), log_time_ns)

    def write_cdr(self, topic: str, schema_name: str, data: bytes, log_time_ns: int) -> None:
        """A ROS 2 message serialised to CDR, with the full ``ros2msg`` text of its schema."""
        schema_id = self._schema(schema_name, "ros2msg", ROS2_SCHEMAS[schema_name].encode())
        self._add(self._channel(topic, "cdr", schema_id), data, log_time_ns)

    def write_raw(self, channel, schema, data: bytes, log_time_ns: int) -> None:
        """A message as read from another MCAP file: its channel and schema records (schema may be None)."""
        schema_id = 0 if schema is None else self._schema(schema.name, schema.encoding, schema.data)
        self._add(self._channel(channel.topic, channel.message_encoding, schema_id, channel.metadata), data,
                  log_time_ns)

    def write_recorded(self, recorded: Recorded, topics: TopicMap) -> None:
        """An input message: as stored when it came from an MCAP file, else its (valid) events encoded, with a
        sweep's ground truth on ``topics.ground_truth``."""
        if recorded.raw is not None:
            self.write_raw(recorded.raw.channel, recorded.raw.schema, recorded.raw.data, recorded.log_time_ns)
        else:
            for topic, message in encode_events(recorded.events, topics):
                self.write(topic, message, recorded.log_time_ns)
            for sweep in recorded.events:
                if isinstance(sweep, LidarSweep) and sweep.ground_truth is not None:
                    self.write(topics.ground_truth, scene_update(sweep.ground_truth, sweep.time_ns, topics.ego_frame,
                                                                 "gt"), recorded.log_time_ns)

    def add_metadata(self, name: str, values: dict[str, str]) -> None:
        self._writer.add_metadata(name, values)

    def _schema(self, name: str, encoding: str, data: bytes) -> int:
        key = (name, encoding, data)
        if key not in self._schemas:
            self._schemas[key] = self._writer.register_schema(name=name, encoding=encoding, data=data)
        return self._schemas[key]

    def _channel(self, topic: str, encoding: str, schema_id: int, metadata: dict | None = None) -> int:
        key = (topic, encoding, schema_id)
        if key not in self._channels:
            self._channels[key] = self._writer.register_channel(topic=topic, message_encoding=encoding,
                                                                schema_id=schema_id, metadata=dict(metadata or {}))
        return self._channels[key]

    def _add(self, channel_id: int, data: bytes, log_time_ns: int) -> None:
        sequence = self._sequence.get(channel_id, 0)
        self._sequence[channel_id] = sequence + 1
        self._writer.add_message(channel_id=channel_id, log_time=log_time_ns, data=data, publish_time=log_time_ns,
                                 sequence=sequence)

    def close(self, keep: bool = True) -> None:
        """Finish the file and move it to its name (``keep``), or delete it."""
        if self._file.closed:
            return
        try:
            if keep:
                self._writer.finish()
        finally:
            self._file.close()
        if keep:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "McapOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)
