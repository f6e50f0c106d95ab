"""Reading MCAP records front to back, tolerant of a cut-off end and of damaged chunks.

Every chunk's CRC is checked; a chunk that fails it, or cannot be decompressed, is skipped and reported (its time
range and how many messages its message index lists). A record that cannot even be parsed (a damaged chunk header)
is skipped too: reading resumes at the end of that chunk as the summary's chunk index gives it, or, without a
summary, at the next plausible chunk header found by scanning forward. Only when no later chunk exists does reading
stop, as a cut-off file.

The ``mcap`` stream reader stops at the first incomplete record, which for a chunked file loses every message of
the chunk being written when the recording was cut. We decompress the prefix of the cut chunk (zstd and lz4 stream
in blocks) and keep the records that are whole in it.
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
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, ChunkIndex, Message, Metadata, Schema
from mcap.stream_reader import MAGIC_SIZE, StreamReader, breakup_chunk
from mcap.summary import Summary

from perception.errors import DataError
from perception.replay.events import Fault

MAGIC = b"\x89MCAP0\r\n"
RECORD_HEADER = 9  # opcode (1 byte) + record length (8 bytes)
CHUNK_FIXED = 8 + 8 + 8 + 4 + 4  # start and end time, uncompressed size, crc, compression string length
COMPRESSIONS = ("", "zstd", "lz4")
SCAN_BLOCK = 1 << 20
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


@dataclass
class SkippedChunk:
    """A damaged stretch of the file that was skipped: bytes ``offset``..``resume``, the time range of its messages
    (None when the damaged header and a missing summary leave it unknown) and how many messages its message index
    lists (None when unknown)."""

    offset: int
    resume: int
    start_ns: int | None
    end_ns: int | None
    messages: int | None
    reason: str

    def as_dict(self) -> dict:
        return {"offset": self.offset, "resume_offset": self.resume, "message_start_ns": self.start_ns,
                "message_end_ns": self.end_ns, "messages": self.messages, "reason": self.reason}

    def fault(self) -> Fault:
        """The skip as one replay fault standing for every message the chunk held."""
        times = "unknown times" if self.start_ns is None else f"messages logged {self.start_ns}..{self.end_ns} ns"
        return Fault("corrupt", "(chunk)", self.start_ns or 0,
                     f"bytes {self.offset}..{self.resume} ({times}) skipped: {self.reason}", self.messages or 1)


def read_summary(path: Path) -> Summary | None:
    """The file's summary section, or None when it has none or it cannot be read (e.g. the file was cut off)."""
    try:
        with open(path, "rb") as file:
            return SeekingReader(file).get_summary()
    except (*UNREADABLE, EndOfFile):
        return None


class McapRecords:
    """Iterates the Schema, Channel, Metadata and Message records of an MCAP file in file order, and a ``Fault``
    for each damaged chunk skipped (also listed in ``skipped_chunks``). ``truncation`` is set once iteration has
    hit a cut-off end."""

    def __init__(self, path: str | Path, summary: Summary | None = None):
        """``summary``: the file's summary when already read (``read_summary``); its chunk index locates the chunk
        after a damaged one."""
        self.path = Path(path)
        self.chunk_index: dict[int, ChunkIndex] = {c.chunk_start_offset: c for c in summary.chunk_indexes} \
            if summary is not None else {}
        self.truncation: Truncation | None = None
        self.skipped_chunks: list[SkippedChunk] = []

    def __iter__(self) -> Iterator[Schema | Channel | Metadata | Message | Fault]:
        if not self.path.is_file():
            raise DataError("recording does not exist", self.path)
        self.truncation, self.skipped_chunks = None, []
        with open(self.path, "rb") as file:
            self._check_magic(file)
            offset = MAGIC_SIZE
            while offset is not None:
                offset = yield from self._records_from(file, offset)

    def _check_magic(self, file) -> None:
        magic = file.read(MAGIC_SIZE)
        if len(magic) < MAGIC_SIZE:
            raise DataError("not an MCAP file (shorter than the MCAP magic)", self.path)
        if magic != MAGIC:
            raise DataError("not an MCAP file (its first bytes are not the MCAP magic)", self.path)

    def _records_from(self, file, offset: int):
        """Yield the records from ``offset`` on; return the offset to resume at after a damaged record, or None
        at the end of the file."""
        file.seek(offset)
        start = offset
        try:
            for record in StreamReader(file, skip_magic=True, emit_chunks=True).records:
                if isinstance(record, Chunk):
                    yield from self._chunk_records(file, record, start)
                elif isinstance(record, (Schema, Channel, Metadata, Message)):
                    yield record
                start = file.tell()
        except InvalidMagic:
            self.truncation = self._truncated(start, "the closing magic is damaged")
        except (*UNREADABLE, EndOfFile) as error:
            resume = self._resume_offset(file, start)
            if resume is not None:
                yield self._skip(file, start, resume, f"damaged record header ({described(error)})").fault()
                return resume
            if isinstance(error, EndOfFile):
                self.truncation = self._truncated(start, "the file ends inside a record (cut off)")
                yield from self._records_of_cut_chunk(file, self.truncation)
            else:
                self.truncation = self._truncated(start, f"unreadable record: {described(error)}")
        return None

    def _truncated(self, offset: int, reason: str) -> Truncation:
        return Truncation(offset, self.path.stat().st_size, reason)

    def _chunk_records(self, file, chunk: Chunk, offset: int) -> list:
        """The records of a chunk starting at ``offset``, or its skip as a fault when it is damaged."""
        try:
            return breakup_chunk(chunk, validate_crc=True)
        except UNREADABLE as error:
            skipped = self._skip(file, offset, file.tell(), f"chunk data is damaged ({described(error)})", chunk)
            return [skipped.fault()]

    def _skip(self, file, offset: int, resume: int, reason: str, chunk: Chunk | None = None) -> SkippedChunk:
        """Record the damaged bytes ``offset``..``resume``; times come from the chunk's header when it could be
        read, else from the chunk index, else from the first fields of the damaged header when they are plausible."""
        header = chunk or self.chunk_index.get(offset)
        times = (header.message_start_time, header.message_end_time) if header else chunk_times_at(file, offset)
        position = file.tell()
        skipped = SkippedChunk(offset, resume, *times, indexed_messages(file, resume), reason)
        file.seek(position)
        self.skipped_chunks.append(skipped)
        return skipped

    def _resume_offset(self, file, offset: int) -> int | None:
        """Where reading continues after a damaged record at ``offset``: the end of the chunk indexed there, the
        next indexed chunk, or (without a chunk index) the next plausible chunk header; None when there is none."""
        if offset in self.chunk_index and self.chunk_index[offset].chunk_length > 0:
            return offset + self.chunk_index[offset].chunk_length
        later = [start for start in self.chunk_index if start > offset]
        if later:
            return min(later)
        return None if self.chunk_index else find_chunk(file, offset + 1, self.path.stat().st_size)

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
        except (*UNREADABLE, EndOfFile):
            return []
        truncation.recovered = len(records)
        return records


def described(error: Exception, limit: int = 160) -> str:
    """The error's type and message, cut to ``limit`` characters (a decode error quotes the bytes it met)."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def indexed_messages(file, offset: int) -> int | None:
    """How many messages the MessageIndex records at ``offset`` (those right after a chunk) list; None when there
    are none."""
    file.seek(offset)
    count = None
    while (header := file.read(RECORD_HEADER))[:1] == bytes([Opcode.MESSAGE_INDEX]) and len(header) == RECORD_HEADER:
        body = file.read(int.from_bytes(header[1:], "little"))
        if len(body) < 6:
            break
        count = (count or 0) + int.from_bytes(body[2:6], "little") // 16  # channel id, then (time, offset) pairs
    return count


def chunk_times_at(file, offset: int) -> tuple[int | None, int | None]:
    """The message time range in the header of a (damaged) chunk record at ``offset``; (None, None) when the
    record is not a chunk or its times are not an ordered pair."""
    file.seek(offset)
    head = file.read(RECORD_HEADER + 16)
    if len(head) < RECORD_HEADER + 16 or head[0] != Opcode.CHUNK:
        return None, None
    start_ns, end_ns = struct.unpack_from("<QQ", head, RECORD_HEADER)
    return (start_ns, end_ns) if start_ns <= end_ns else (None, None)


def find_chunk(file, start: int, size: int) -> int | None:
    """The offset of the first plausible chunk record at or after ``start`` in a file of ``size`` bytes."""
    block_start = start
    while block_start < size:
        file.seek(block_start)
        block = file.read(SCAN_BLOCK)
        at = block.find(bytes([Opcode.CHUNK]))
        while at != -1:
            if is_chunk_header(file, block_start + at, size):
                return block_start + at
            at = block.find(bytes([Opcode.CHUNK]), at + 1)
        block_start += len(block)
    return None


def is_chunk_header(file, offset: int, size: int) -> bool:
    """Whether the bytes at ``offset`` read as a whole chunk record: a known compression, a start time not after
    the end time, and a data length that adds up to the record length within the file."""
    file.seek(offset)
    stream = ReadDataStream(file)
    try:
        if stream.read1() != Opcode.CHUNK:
            return False
        length, start_ns, end_ns = stream.read8(), stream.read8(), stream.read8()
        stream.read8(), stream.read4()  # uncompressed size and crc
        name_length = stream.read4()
        if name_length > max(map(len, COMPRESSIONS)):
            return False
        compression, data_length = stream.read(name_length), stream.read8()
    except (EndOfFile, struct.error):  # the file ends within the header
        return False
    return compression in [name.encode() for name in COMPRESSIONS] and start_ns <= end_ns \
        and length == CHUNK_FIXED + name_length + 8 + data_length and offset + RECORD_HEADER + length <= size


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
