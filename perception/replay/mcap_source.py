"""An MCAP recording with Foxglove protobuf schemas (nuscenes2mcap's layout) or ROS 2 messages (CDR) as a stream of
recorded messages.

Topics are given their role by a ``TopicMap``, or by their ROS 2 schema (``topic_roles``); a mapped topic with
another schema is a configuration error, found from the summary before reading when the file has one. Every
message is passed on raw (for pass-through); those on mapped topics are decoded into sensor events (by their
encoding, ``mcap_codecs``), and a message that fails to decode becomes a ``Fault`` instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from google.protobuf.message import DecodeError
from mcap.exceptions import McapError
from mcap.records import Channel, Message, Metadata, Schema

from perception.errors import DataError
from perception.replay.foxglove_decode import CorruptMessage
from perception.replay.mcap_codecs import CODECS, Decoders
from perception.replay.events import Fault, RawMessage, Recorded
from perception.replay.mcap_records import McapRecords, read_summary
from perception.replay.recording_format import reject_other_formats
from perception.replay.topic_roles import TopicRoles, accepts, expected_schemas
from perception.replay.topics import KEYFRAMES_METADATA, SCENE_METADATA, TopicMap


class McapSource:
    """Iterates the recording's messages as ``Recorded``; ``keyframes``, ``metadata()``, ``scene_name`` and
    ``truncation`` fill in as it is read."""

    def __init__(self, path: str | Path, topics: TopicMap):
        self.path, self.topics = Path(path), topics
        if not self.path.is_file():
            raise DataError("recording does not exist", self.path)
        reject_other_formats(self.path)
        summary = read_summary(self.path)
        self.records = McapRecords(self.path, summary)
        self.scene_name = self.path.stem
        self.keyframes: dict[int, str] = {}  # lidar time (ns) → sample token, from the recording's metadata
        self._metadata: dict[str, dict[str, str]] = {}
        self.lidar_found = False
        self.expected_frames = None  # unknown until read
        self._decoders = Decoders()
        # The summary's channels and schemas (none when it is missing, e.g. cut off): known before reading, so a
        # damaged chunk that declared them loses only its own messages, and topics get their roles up front.
        self._channels: dict[int, Channel] = dict(summary.channels) if summary else {}
        self._schemas: dict[int, Schema] = dict(summary.schemas) if summary else {}
        self._decode_fns: dict[int, object] = {}
        self.roles = TopicRoles(topics, [(c.topic, self._schema_name(c)) for c in self._channels.values()])
        for channel in self._channels.values():
            self._check_channel(channel, self._schemas.get(channel.schema_id))

    @property
    def truncation(self):
        return self.records.truncation

    @property
    def skipped_chunks(self) -> list:
        """The damaged chunks skipped so far (``McapRecords.skipped_chunks``)."""
        return self.records.skipped_chunks

    def _schema_name(self, channel: Channel) -> str:
        schema = self._schemas.get(channel.schema_id)
        return schema.name if schema is not None else ""

    def _check_channel(self, channel: Channel, schema: Schema | None) -> None:
        name = schema.name if schema is not None else "(no schema)"
        role = self.roles.role_of(channel.topic, name)
        if role is None:
            return
        if not accepts(role[0], channel.message_encoding, name):
            raise DataError(f"topic {channel.topic} holds {name} in {channel.message_encoding or 'no'} encoding; as "
                            f"the {role[0]} topic it must hold {expected_schemas(role[0])} (map the topics "
                            f"with --topics YAML)", self.path)
        self.lidar_found |= role[0] == "lidar"

    def __iter__(self) -> Iterator[Recorded]:
        for record in self.records:
            if isinstance(record, Fault):
                yield Recorded(record.log_time_ns, fault=record)
            elif isinstance(record, Schema):
                self._schemas[record.id] = record
            elif isinstance(record, Channel):
                self._channels[record.id] = record
                self._check_channel(record, self._schemas.get(record.schema_id))
            elif isinstance(record, Metadata):
                self._read_metadata(record)
            elif isinstance(record, Message):
                yield self._recorded(record)
        if not self.lidar_found:
            seen = ", ".join(sorted({c.topic for c in self._channels.values()})) or "none"
            raise DataError(f"no lidar topic '{self.topics.lidar}' in the recording (topics: {seen}); map it with "
                            f"--topics YAML", self.path)

    def metadata(self) -> dict[str, dict[str, str]]:
        """The metadata records read so far, by name."""
        return dict(self._metadata)

    def _read_metadata(self, record: Metadata) -> None:
        self._metadata[record.name] = dict(record.metadata)
        if record.name == KEYFRAMES_METADATA:
            self.keyframes.update({int(time): token for time, token in record.metadata.items()})
        elif record.name == SCENE_METADATA and record.metadata.get("name"):
            self.scene_name = record.metadata["name"]

    def _recorded(self, message: Message) -> Recorded:
        channel = self._channels.get(message.channel_id)
        if channel is None:
            return Recorded(message.log_time, fault=Fault("corrupt", f"(channel {message.channel_id})",
                                                          message.log_time, "message on an undeclared channel"))
        schema = self._schemas.get(channel.schema_id)
        recorded = Recorded(message.log_time, raw=RawMessage(channel, schema, message.data))
        role = self.roles.role_of(channel.topic, schema.name if schema is not None else "(no schema)")
        if role is None:
            return recorded
        try:
            recorded.events = self._events(role, channel, schema, message)
        except (DecodeError, McapError, CorruptMessage) as error:
            reason = f"cannot decode {schema.name}: {error}" if isinstance(error, DecodeError) else str(error)
            return Recorded(message.log_time, fault=Fault("corrupt", channel.topic, message.log_time, reason))
        return recorded

    def _events(self, role: tuple[str, str], channel: Channel, schema: Schema, message: Message) -> list:
        if channel.id not in self._decode_fns:
            self._decode_fns[channel.id] = self._decoders.decoder_for(channel.message_encoding, schema)
        decoded = self._decode_fns[channel.id](message.data)
        decode = CODECS[channel.message_encoding]
        kind, camera = role
        if kind == "lidar":
            sweep = decode.lidar_sweep(decoded, message.log_time, self.topics.lidar_frame)
            sweep.sample_token = self.keyframes.get(sweep.time_ns, "")
            return [sweep]
        if kind == "transforms":
            return decode.transforms(decoded, message.log_time)
        frame = self.topics.camera(camera).frame
        if kind == "image":
            return [decode.camera_image(decoded, message.log_time, camera, frame, channel.topic)]
        return [decode.camera_info(decoded, message.log_time, camera, frame)]
