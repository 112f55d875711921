"""A fast scan of the messages in an indexed MCAP file, for bulk loading.

The ``mcap`` package yields messages in global log-time order through a heap
of Python objects (about 100 us per message here), and rosbags' reader parses
every channel's QoS YAML with a slow pure-Python YAML library. Bulk loading
only needs each topic's messages in order, so this reads the chunks listed in
the file's summary (chunk index records) one after the other, decompresses
them (none, zstd or lz4) and unpacks the message records with ``struct``.

Record layout (MCAP specification): every record is ``opcode u8, length u64,
content``; a chunk (opcode 0x06) holds ``start u64, end u64, uncompressed
size u64, crc u32, compression string, records (u64 length + bytes)``; a
message (opcode 0x05) is ``channel u16, sequence u32, log_time u64,
publish_time u64, data``. All little endian.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

_OP_CHUNK = 0x06
_OP_MESSAGE = 0x05
_REC = struct.Struct("<BQ")
_MSG = struct.Struct("<HIQQ")
_CHUNK = struct.Struct("<QQQI")


class ScanError(ValueError):
    """A chunk or record is not where or what the index says."""


def _decompress(data: bytes, compression: str, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise ScanError(f"unsupported chunk compression {compression!r}")


def scan_messages(fh: BinaryIO, chunk_indexes, channel_ids: set[int]) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(channel_id, log_time_ns, data)`` of ``channel_ids``, chunk by chunk in file order
    (time order within a topic for a single writer; callers that need it sort)."""
    for ci in sorted(chunk_indexes, key=lambda c: c.chunk_start_offset):
        if channel_ids.isdisjoint(ci.message_index_offsets) and ci.message_index_offsets:
            continue
        fh.seek(ci.chunk_start_offset)
        raw = fh.read(ci.chunk_length)
        if len(raw) != ci.chunk_length:
            raise ScanError(f"chunk at byte {ci.chunk_start_offset} is cut short")
        op, length = _REC.unpack_from(raw, 0)
        if op != _OP_CHUNK:
            raise ScanError(f"no chunk record at byte {ci.chunk_start_offset} (opcode {op:#x})")
        off = 9
        _, _, size, _ = _CHUNK.unpack_from(raw, off)
        off += _CHUNK.size
        (clen,) = struct.unpack_from("<I", raw, off)
        off += 4
        compression = raw[off:off + clen].decode()
        off += clen
        (rlen,) = struct.unpack_from("<Q", raw, off)
        off += 8
        records = _decompress(raw[off:off + rlen], compression, size)
        pos, end = 0, len(records)
        unpack_rec, unpack_msg = _REC.unpack_from, _MSG.unpack_from
        while pos < end:
            op, length = unpack_rec(records, pos)
            body = pos + 9
            pos = body + length
            if pos > end:
                raise ScanError(f"record in chunk at byte {ci.chunk_start_offset} runs past the chunk")
            if op == _OP_MESSAGE:
                channel, _, log_time, _ = unpack_msg(records, body)
                if channel in channel_ids:
                    yield channel, log_time, records[body + 22:pos]
