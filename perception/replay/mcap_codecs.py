"""Message decoding by the channel's encoding: Foxglove protobuf (``mcap_protobuf``) or ROS 2 CDR (``mcap_ros2``).

Each encoding has a module turning decoded messages into sensor events with the same functions (``lidar_sweep``,
``camera_image``, ``camera_info``, ``transforms``): ``foxglove_decode`` and ``ros2_decode``.
"""
from __future__ import annotations

import struct
from typing import Callable

from mcap.records import Schema
from mcap_protobuf.decoder import DecoderFactory as ProtobufDecoders
from mcap_ros2.decoder import DecoderFactory as Ros2Decoders

from perception.replay import foxglove_decode, ros2_decode
from perception.replay.foxglove_decode import CorruptMessage

CODECS = {"protobuf": foxglove_decode, "cdr": ros2_decode}
"""Message encoding → module decoding its messages into events."""
CDR_ERRORS = (struct.error, IndexError, ValueError, UnicodeDecodeError, NotImplementedError, AttributeError)


class Decoders:
    """``decoder_for(encoding, schema)``: bytes → decoded message, for protobuf and CDR channels."""

    def __init__(self):
        self._protobuf, self._ros2 = ProtobufDecoders(), Ros2Decoders()

    def decoder_for(self, encoding: str, schema: Schema | None) -> Callable[[bytes], object] | None:
        if encoding != "cdr":
            return self._protobuf.decoder_for(encoding, schema)
        decode = self._ros2.decoder_for(encoding, schema)

        def checked(data: bytes):
            try:
                return decode(data)
            except CDR_ERRORS as error:
                raise CorruptMessage(f"cannot decode {schema.name} (CDR): {error!r}") from None

        return None if decode is None else checked
