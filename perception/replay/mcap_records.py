"""Reading MCAP records front to back, tolerant of a cut-off end and of corrupt chunks.

The ``mcap`` stream reader stops at the first incomplete record, which for a chunked file loses every message of
the chunk being written when the recording was cut. We read the file's complete records with it, then decompress
the prefix of the cut chunk (zstd and lz4 stream in blocks) and keep the records that are whole in it.
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import lz4.frame
import zstandard
from mcap.data_stream import ReadDataStream
from mcap.exceptions import EndOfFile, InvalidMagic, McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Metadata, Schema
from mcap.stream_reader import MAGIC_SIZE, StreamReader, breakup_chunk

from perception.errors import DataError
from perception.replay.events import Fault

RECORD_HEADER = 9  # opcode (1 byte) + record length (8 bytes)
UNREADABLE = (McapError, struct.error, ValueError, UnicodeDecodeError, zstandard.ZstdError, RuntimeError)


@dataclass
class Truncation:
    """Where reading stopped early: ``offset`` bytes were whole records; ``recovered`` records came from the
    complete part of the record cut at that offset."""

    offset: int
    file_size: int
    reason: str
    recovered: int = 0

    def as_dict(self) -> dict:
        return {"offset": self.offset, "file_size": self.file_size, "reason": self.reason,
                "recovered_records": self.recovered}


class McapRecords:
    """Iterates the Schema, Channel, Metadata and Message records of an MCAP file in file order, and a ``Fault``
    for each chunk that cannot be decompressed. ``truncation`` is set once iteration has hit a cut-off end."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.truncation: Truncation | None = None

    def __iter__(self) -> Iterator[Schema | Channel | Metadata | Message | Fault]:
        if not self.path.is_file():
            raise DataError("recording does not exist", self.path)
        with open(self.path, "rb") as file:
            end_of_whole_records = 0
            try:
                for record in StreamReader(file, emit_chunks=True).records:
                    if isinstance(record, Chunk):
                        yield from self._chunk_records(record)
                    elif isinstance(record, (Schema, Channel, Metadata, Message)):
                        yield record
                    end_of_whole_records = file.tell()
            except InvalidMagic:
                if end_of_whole_records == 0:
                    raise DataError("not an MCAP file (its first bytes are not the MCAP magic)", self.path) from None
                self.truncation = self._truncated(end_of_whole_records, "the closing magic is damaged")
            except EndOfFile:
                if end_of_whole_records == 0 and self.path.stat().st_size < MAGIC_SIZE:
                    raise DataError("not an MCAP file (shorter than the MCAP magic)", self.path) from None
                self.truncation = self._truncated(end_of_whole_records, "the file ends inside a record (cut off)")
                yield from self._records_of_cut_chunk(file, self.truncation)
            except UNREADABLE as error:
                self.truncation = self._truncated(end_of_whole_records, f"unreadable record: {error!r}")

    def _truncated(self, offset: int, reason: str) -> Truncation:
        return Truncation(offset, self.path.stat().st_size, reason)

    def _chunk_records(self, chunk: Chunk) -> list:
        try:
            return breakup_chunk(chunk)
        except UNREADABLE as error:
            return [Fault("corrupt", "(chunk)", chunk.message_start_time,
                          f"chunk of messages logged {chunk.message_start_time}..{chunk.message_end_time} ns "
                          f"cannot be decompressed ({error!r}); its messages are lost")]

    def _records_of_cut_chunk(self, file, truncation: Truncation) -> list:
        """The whole records at the start of a chunk cut off at the end of the file."""
        file.seek(truncation.offset)
        tail = file.read()
        stream = ReadDataStream(io.BytesIO(tail))
        try:
            if stream.read1() != Opcode.CHUNK:
                return []
            stream.read8()                      # record length
            start, end = stream.read8(), stream.read8()
            stream.read8(), stream.read4()      # uncompressed size and crc: of the whole chunk, unusable here
            compression = stream.read_prefixed_string()
            stream.read8()                      # records length
            data = decompress_prefix(compression, tail[stream.count:])
            whole = whole_records_length(data)
            records = breakup_chunk(Chunk(compression="", data=data[:whole], message_end_time=end,
                                          message_start_time=start, uncompressed_crc=0, uncompressed_size=whole))
        except UNREADABLE:
            return []
        truncation.recovered = len(records)
        return records


def decompress_prefix(compression: str, data: bytes) -> bytes:
    """As much of the uncompressed data as the first bytes ``data`` of a compressed chunk give."""
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if compression == "lz4":
        return lz4.frame.LZ4FrameDecompressor().decompress(data)
    if compression == "":
        return data
    raise ValueError(f"unknown chunk compression '{compression}'")


def whole_records_length(data: bytes) -> int:
    """Length of the longest prefix of ``data`` made of complete records (opcode, length, body)."""
    offset = 0
    while offset + RECORD_HEADER <= len(data):
        length = int.from_bytes(data[offset + 1:offset + RECORD_HEADER], "little")
        if offset + RECORD_HEADER + length > len(data):
            break
        offset += RECORD_HEADER + length
    return offset
