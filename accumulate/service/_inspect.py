"""A received object on disk, checked without loading it: bounded inflation, the element structure, the identifiers.

The receiver never decodes a whole object in memory. :func:`inspect` walks the encoded elements
of a DICOM file (tags, value representations, lengths, nested sequences and items) reading only
element headers and the few short values it needs (the identifiers, the image size), so its memory
does not grow with the object: a 2 GB CT costs what a 2 kB one does. An object whose structure
does not hold (a length past its item, sequence or file; an unknown VR; an item outside a
sequence; an undelimited sequence; nesting deeper than :data:`MAX_DEPTH`) is :class:`Malformed`.

A Deflated Explicit VR Little Endian object is first inflated into a file of its own
(:func:`inflate`), at most ``max_bytes`` of output: a deflate bomb is refused at the limit without
being inflated further, and what is stored (and counted against the quota) is the inflated object.
"""

from __future__ import annotations

import copy
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
MAX_DEPTH = 32  # RT objects nest four levels or so; deeper is an attack on the readers
MAX_VALUE_BYTES = 1024  # an identifier or image-size value longer than this is not read (treated as missing)
CHUNK = 1 << 20  # bytes read, and inflated, at a time
PREAMBLE = b"\x00" * 128 + b"DICM"
#: The transfer syntaxes the receiver accepts (all little endian), whether each is explicit VR (deflate once inflated)
TRANSFER_SYNTAXES = {ImplicitVRLittleEndian: False, ExplicitVRLittleEndian: True, DeflatedExplicitVRLittleEndian: True}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL",
              b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}  # fmt: skip
WANTED = frozenset(Tag(k) for k in ("SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "PatientID", "SeriesInstanceUID",
                                    "SamplesPerPixel", "NumberOfFrames", "Rows", "Columns", "BitsAllocated"))  # fmt: skip


class Malformed(Exception):
    """The encoded object does not hold together; the message says where (a byte offset), never a value."""


class TooLarge(Exception):
    """Inflating the object would exceed the limit it was given."""


@dataclass(frozen=True)
class Header:
    """What the receiver needs of an object: a few top-level attributes, the pixel data's length and the file's size."""

    dataset: Dataset  # the WANTED attributes found (short ones only), decoded by pydicom on access
    pixel_bytes: int | None  # the PixelData element's length; None without one
    file_bytes: int


def data_set_offset(meta: FileMetaDataset) -> int:
    """Where the data set starts in a file with a preamble and this (group-length-bearing) file meta information."""
    return len(PREAMBLE) + 12 + int(meta.FileMetaInformationGroupLength)


def inflate(source: Path, target: Path, max_bytes: int) -> Path:
    """Write ``source`` (Deflated Explicit VR Little Endian) to ``target`` inflated, as Explicit VR Little Endian.

    :class:`TooLarge` as soon as the output would pass ``max_bytes`` (bytes of the target file);
    :class:`Malformed` if the deflate stream is corrupt or ends early.
    """
    meta = read_file_meta_info(source)
    offset = data_set_offset(meta)
    inflated = copy.deepcopy(meta)
    inflated.TransferSyntaxUID = ExplicitVRLittleEndian
    stream = zlib.decompressobj(-zlib.MAX_WBITS)
    with open(source, "rb") as src, open(target, "wb") as out:
        out.write(PREAMBLE)
        write_file_meta_info(out, inflated, enforce_standard=True)
        src.seek(offset)
        written = out.tell()
        try:
            while not stream.eof and (chunk := src.read(CHUNK)):
                while True:  # at most CHUNK bytes of output per call, so memory stays bounded
                    data = stream.decompress(chunk, CHUNK)
                    written += len(data)
                    if written > max_bytes:
                        raise TooLarge(f"inflates to more than {max_bytes} bytes")
                    out.write(data)
                    chunk = stream.unconsumed_tail
                    if not chunk and len(data) < CHUNK:
                        break
        except zlib.error:
            raise Malformed("its deflated data set is corrupt") from None
    if not stream.eof:
        raise Malformed("its deflated data set ends before the deflate stream does")
    return target


class _Reader:
    """Element headers and short values read from a file, with every length checked against the file's end."""

    u16, u32, tag_format = struct.Struct("<H"), struct.Struct("<L"), struct.Struct("<HH")

    def __init__(self, handle, offset: int, size: int) -> None:
        self.handle, self.pos, self.size = handle, offset, size
        handle.seek(offset)

    def read(self, n: int) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise Malformed(f"it ends inside an element (byte {self.pos} of {self.size})")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        self.limit(n)
        self.handle.seek(n, 1)
        self.pos += n

    def limit(self, n: int) -> int:
        """The offset ``n`` bytes on, which must lie within the file."""
        if self.pos + n > self.size:
            raise Malformed(f"an element of {n} bytes at byte {self.pos} runs past the end of the file ({self.size} bytes)")
        return self.pos + n

    def tag(self) -> int:
        group, element = self.tag_format.unpack(self.read(4))
        return group << 16 | element

    def length(self) -> int:
        return self.u32.unpack(self.read(4))[0]


class _Walk:
    """One pass over an object's elements; ``found`` collects the WANTED top-level values, ``pixel_bytes`` the pixels."""

    def __init__(self, reader: _Reader) -> None:
        self.r = reader
        self.found: dict[int, RawDataElement] = {}
        self.pixel_bytes: int | None = None

    def elements(self, end: int | None, depth: int, explicit: bool) -> None:
        """The elements of a data set up to ``end`` (an offset), or up to its item delimiter when ``end`` is None."""
        r = self.r
        while end is None or r.pos < end:
            start, tag = r.pos, r.tag()
            if tag == ITEM_END:
                if end is not None or depth == 0:
                    raise Malformed(f"an item delimiter outside an item of undefined length (byte {start})")
                r.length()
                return
            if tag >> 16 == 0xFFFE:
                raise Malformed(f"an item or sequence delimiter where an element belongs (byte {start})")
            vr, length = self._vr_and_length(tag, start, explicit)
            is_sequence = vr == "SQ" or (length == UNDEFINED and (vr in (None, "UN")))
            if is_sequence:
                self.sequence(length, depth + 1, explicit and vr == "SQ")  # UN of undefined length: implicit VR inside
            elif length == UNDEFINED:
                raise Malformed(f"an element of undefined length that is not a sequence (byte {start}; compressed pixels?)")
            elif depth == 0 and tag in WANTED and length <= MAX_VALUE_BYTES:
                value_at = r.pos
                self.found[tag] = RawDataElement(Tag(tag), vr if explicit else None, length, r.read(length), value_at,
                                                 not explicit, True)  # fmt: skip
            else:
                if depth == 0 and tag == PIXEL_DATA:
                    self.pixel_bytes = length
                r.skip(length)
        if r.pos != end:
            raise Malformed(f"an element overruns the end of its item or sequence (byte {end})")

    def _vr_and_length(self, tag: int, start: int, explicit: bool) -> tuple[str | None, int]:
        r = self.r
        if not explicit:
            try:
                vr = dictionary_VR(tag)
            except KeyError:  # a private or unknown tag: its value is skipped unless it is of undefined length
                vr = None
            return vr, r.length()
        code = r.read(2)
        if code in _LONG_VRS:
            r.read(2)
            return code.decode("ascii"), r.length()
        if code in _SHORT_VRS:
            return code.decode("ascii"), r.u16.unpack(r.read(2))[0]
        raise Malformed(f"an unknown value representation {code!r} at byte {start}")

    def sequence(self, length: int, depth: int, explicit: bool) -> None:
        """The items of a sequence of ``length`` bytes, or up to its sequence delimiter (undefined length)."""
        if depth > MAX_DEPTH:
            raise Malformed(f"sequences nested deeper than {MAX_DEPTH} levels")
        r = self.r
        end = None if length == UNDEFINED else r.limit(length)
        while end is None or r.pos < end:
            start, tag, item_length = r.pos, r.tag(), r.length()
            if tag == SEQUENCE_END and end is None:
                return
            if tag != ITEM:
                raise Malformed(f"a sequence holds something other than an item (byte {start})")
            item_end = None if item_length == UNDEFINED else r.limit(item_length)
            if end is not None and item_end is not None and item_end > end:
                raise Malformed(f"an item of {item_length} bytes overruns the end of its sequence (byte {start})")
            self.elements(item_end, depth, explicit)
        if r.pos != end:
            raise Malformed(f"an item overruns the end of its sequence (byte {end})")


def inspect(path: Path) -> Header:
    """Check the structure of a DICOM file (preamble, file meta, then an uncompressed data set) and read its identifiers.

    :class:`Malformed` if it does not hold together or has a transfer syntax other than those in
    :data:`TRANSFER_SYNTAXES` (a deflated one must have been inflated first).
    """
    try:
        meta = read_file_meta_info(path)
        syntax, offset = meta.TransferSyntaxUID, data_set_offset(meta)
    except Exception as exc:  # pydicom raises many types on a broken file meta
        raise Malformed(f"its file meta information cannot be read ({type(exc).__name__})") from None
    if syntax not in TRANSFER_SYNTAXES or syntax == DeflatedExplicitVRLittleEndian:
        raise Malformed(f"its transfer syntax {syntax} is not one the receiver reads")
    explicit = TRANSFER_SYNTAXES[syntax]
    size = path.stat().st_size
    with open(path, "rb", buffering=CHUNK) as handle:
        walk = _Walk(_Reader(handle, offset, size))
        walk.elements(size, 0, explicit)
    dataset = Dataset(walk.found)
    dataset.set_original_encoding(not explicit, True)
    return Header(dataset, walk.pixel_bytes, size)
