"""The ``metadata_props`` of an ``.onnx`` file, read without loading the model.

sherpa-onnx reads its settings (``model_type``, chunk sizes, vocabulary size) from the model's
metadata and ends the process, or crashes it, when one is missing: a wrong file named in the
config would take the engine down at start with no message worth reading. So the metadata is
checked first. An ONNX file is one protobuf ``ModelProto``; its top-level fields are walked and
every one but ``metadata_props`` (field 14, key = 1 and value = 2 inside) is skipped by length,
so a model of hundreds of MB costs a few reads.
"""

from __future__ import annotations

import io
from typing import BinaryIO

METADATA_FIELD = 14
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class OnnxFileError(ValueError):
    """Not a readable ONNX protobuf."""


def _varint(read: BinaryIO) -> int | None:
    """A base-128 varint from the stream; None at a clean end of the stream."""
    value = shift = 0
    while True:
        byte = read.read(1)
        if not byte:
            if shift:
                raise OnnxFileError("file ends inside a field header")
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise OnnxFileError("a field header longer than 10 bytes")


def _entry(data: bytes) -> tuple[str, str]:
    """A ``StringStringEntryProto`` (key = field 1, value = field 2)."""
    fields = {1: "", 2: ""}
    stream = io.BytesIO(data)
    while (tag := _varint(stream)) is not None:
        size = _varint(stream)
        if tag & 7 != _LEN or size is None or stream.tell() + size > len(data):
            raise OnnxFileError("a metadata entry that is not two strings")
        fields[tag >> 3] = stream.read(size).decode("utf-8", errors="replace")
    return fields[1], fields[2]


def read_metadata(stream: BinaryIO, size: int) -> dict[str, str]:
    """The key/value metadata of the ``ModelProto`` in ``stream`` (``size`` bytes long)."""
    out: dict[str, str] = {}
    while (tag := _varint(stream)) is not None:
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            if _varint(stream) is None:
                raise OnnxFileError("file ends inside a field")
        elif wire in (_I64, _I32):
            stream.seek(8 if wire == _I64 else 4, 1)
        elif wire == _LEN:
            length = _varint(stream)
            if length is None or stream.tell() + length > size:
                raise OnnxFileError("a field runs past the end of the file")
            if field == METADATA_FIELD:
                key, value = _entry(stream.read(length))
                out[key] = value
            else:
                stream.seek(length, 1)
        else:
            raise OnnxFileError(f"wire type {wire} at the top level: not an ONNX model")
        if stream.tell() > size:
            raise OnnxFileError("a field runs past the end of the file")
    return out
