"""Reading the files a user points at without hanging or blowing up (Qt-free, no heavy imports).

Every reader of user files (datasets, timelines, model configs, images) goes through here:

- :func:`open_regular` opens regular files only. A named pipe (FIFO), device or socket is
  refused: checked with ``stat`` before the open (opening some devices has side effects), the
  open itself is non-blocking (a FIFO with no writer cannot hang it) and ``fstat`` on the
  open descriptor checks again (the path may have been swapped in between).
- :func:`read_bounded` reads at most ``limit`` bytes, counted by what was actually read, not by
  the size ``stat`` reports (``/dev/zero`` and ``/proc`` files report 0).
- :func:`image_size` reads an image's width and height from its header (PNG IHDR, JPEG SOF,
  BMP, TIFF, WebP, GIF, PNM), so :func:`decode_image` refuses a decompression bomb (a 1 MB PNG
  of 30000x30000 pixels decodes to 2.7 GB) before OpenCV allocates anything. OpenCV's own
  ``OPENCV_IO_MAX_IMAGE_PIXELS`` cannot do this for us: it is read once, when the cv2 library
  is loaded, so setting it later (or after another module imported cv2) has no effect.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

# 8192 x 8192: a 64 MP photo is fine (a 50 MP phone photo is 8160 x 6120); decoded as BGR this is
# at most 200 MB. A 30000 x 30000 image (2.7 GB decoded) is refused before it is decoded.
MAX_IMAGE_PIXELS = 1 << 26
MAX_IMAGE_BYTES = 256 * 1024 * 1024  # a single image file (a 64 MP uncompressed 16-bit TIFF is ~400 MB)
IMAGE_FORMATS = "PNG, JPEG, BMP, TIFF, WebP, GIF or PGM/PPM"


class FileRefused(OSError):
    """A file that is not read: not a regular file, or larger than the limit. ``str(e)`` is the reason
    (no path), so callers that print ``e.strerror or e`` after their own "cannot read X:" read well."""


class ImageError(ValueError):
    """An image that is not decoded: unreadable, unsupported, or larger than :data:`MAX_IMAGE_PIXELS`."""


def file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise FileRefused(f"{file_kind(mode)}, not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` (links followed) for binary reading when it is a regular file; FileRefused
    (an OSError) when it is a FIFO, device, socket or folder; other OSErrors as ``open`` raises them."""
    _check_regular(os.stat(path).st_mode)
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOCTTY", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    fd = os.open(path, flags)
    try:
        _check_regular(os.fstat(fd).st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def read_stream_bounded(f: BinaryIO, limit: int, hint: int = 0) -> bytes:
    """Up to ``limit`` bytes of ``f``; FileRefused when there are more. Reads in chunks, so a
    file that reports a wrong size (0 for ``/dev/zero`` or ``/proc``) still ends at the limit."""
    chunks: list[bytes] = []
    total = 0
    want = max(hint + 1, 1 << 16)
    while total <= limit:
        b = f.read(min(want, limit + 1 - total))
        if not b:
            break
        chunks.append(b)
        total += len(b)
        want = 1 << 22
    if total > limit:
        raise FileRefused(f"larger than {human_bytes(limit)}")
    return b"".join(chunks)


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (FileRefused otherwise)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise FileRefused(f"{human_bytes(size)}: larger than {human_bytes(limit)}")
        return read_stream_bounded(f, limit, size)


def check_writable_dir(path: str | os.PathLike) -> str:
    """Why files cannot be written into folder ``path`` ("" when they can), found without
    creating anything that stays: the nearest existing folder on the way is written to with a
    temporary probe file (permission bits alone do not tell: root, ACLs, read-only mounts)."""
    import tempfile

    probe = Path(path)
    while not probe.exists():
        if probe.is_symlink():
            return f"'{probe}' is a broken link"
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"'{probe}' is not a folder"
    try:
        fd, name = tempfile.mkstemp(prefix=".ferapp-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        return f"cannot write in '{probe}': {e.strerror or e}"
    return ""


# ------------------------------------------------------------------------------------ images
def _u16(d: bytes, i: int, e: str) -> int:
    return struct.unpack_from(e + "H", d, i)[0]


def _u32(d: bytes, i: int, e: str) -> int:
    return struct.unpack_from(e + "I", d, i)[0]


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(d: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first frame header (SOFn), as libjpeg does."""
    i, n = 2, len(d)
    while i + 4 <= n:
        if d[i] != 0xFF:  # garbage between segments: libjpeg skips to the next marker, so do we
            i += 1
            continue
        m = d[i + 1]
        if m == 0xFF:  # fill byte
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD8:  # standalone markers
            i += 2
            continue
        if m in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        if m in _JPEG_SOF:
            return (_u16(d, i + 7, ">"), _u16(d, i + 5, ">")) if i + 9 <= n else None
        i += 2 + _u16(d, i + 2, ">")
    return None


def _tiff_size(d: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first directory (the page OpenCV decodes)."""
    e = "<" if d[:2] == b"II" else ">"
    big = _u16(d, 2, e) == 43
    if big:
        off, cnt_fmt, ent, val = struct.unpack_from(e + "Q", d, 8)[0], "Q", 20, 12
    else:
        off, cnt_fmt, ent, val = _u32(d, 4, e), "H", 12, 8
    count = struct.unpack_from(e + cnt_fmt, d, off)[0]
    first = off + struct.calcsize(cnt_fmt)
    size: dict[int, int] = {}
    for k in range(min(count, 4096)):
        base = first + k * ent
        tag, typ = _u16(d, base, e), _u16(d, base + 2, e)
        if tag in (256, 257):
            fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
            if fmt is None:
                return None
            size[tag] = struct.unpack_from(e + fmt, d, base + val)[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _webp_size(d: bytes) -> tuple[int, int] | None:
    chunk = d[12:16]
    if chunk == b"VP8 " and d[23:26] == b"\x9d\x01\x2a":
        return _u16(d, 26, "<") & 0x3FFF, _u16(d, 28, "<") & 0x3FFF
    if chunk == b"VP8L" and d[20] == 0x2F:
        bits = _u32(d, 21, "<")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(d[24:27], "little") + 1, int.from_bytes(d[27:30], "little") + 1
    return None


def _pnm_size(d: bytes) -> tuple[int, int] | None:
    """P1-P6 and PF/Pf: magic, width, height as whitespace-separated tokens (``#`` comments);
    P7 (PAM): WIDTH / HEIGHT lines."""
    head = d[:4096]
    if head[:2] == b"P7":
        fields = dict(line.split(None, 1) for line in head.split(b"\n") if len(line.split(None, 1)) == 2)
        try:
            return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
        except (KeyError, ValueError):
            return None
    tokens: list[bytes] = []
    for line in head.split(b"\n"):
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 3:
            break
    try:
        return int(tokens[1]), int(tokens[2])
    except (IndexError, ValueError):
        return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, BMP, TIFF, WebP, GIF or PNM image; None
    when the bytes are none of these or the header is cut short."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return (_u32(data, 16, ">"), _u32(data, 20, ">")) if data[12:16] == b"IHDR" else None
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_size(data)
        if data[:2] == b"BM":
            if _u32(data, 14, "<") == 12:  # OS/2 BITMAPCOREHEADER
                return _u16(data, 18, "<"), _u16(data, 20, "<")
            w, h = struct.unpack_from("<ii", data, 18)
            return abs(w), abs(h)
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _u16(data, 6, "<"), _u16(data, 8, "<")
        if data[:1] == b"P" and data[1:2] in b"1234567fF" and len(data) > 2 and data[2:3].isspace():
            return _pnm_size(data)
    except (struct.error, IndexError):
        return None
    return None


def check_image_size(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of an image OpenCV may decode; ImageError for a format that is not one of
    :data:`IMAGE_FORMATS`, an unreadable header or more than ``max_pixels`` pixels."""
    size = image_size(data)
    if size is None:
        raise ImageError(f"unreadable or corrupt: not a {IMAGE_FORMATS} image")
    w, h = size
    if w * h > max_pixels:
        side = int(max_pixels**0.5)
        raise ImageError(
            f"{w}x{h} pixels ({w * h / 1e6:.0f} MP): larger than the image limit of "
            f"{max_pixels / 1e6:.0f} MP ({side}x{side}); not decoded"
        )
    return w, h


def decode_image(data: bytes, *, color: bool = False, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Bytes -> uint8 gray (H, W) or BGR (H, W, 3). The size is checked from the header before
    anything is decoded. ImageError (with the reason) when the bytes are empty, not an image,
    truncated or too large."""
    if not data:
        raise ImageError("unreadable: empty file")
    check_image_size(data, max_pixels)
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise ImageError("unreadable, corrupt or truncated image")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        # libpng may hand back a partly decoded image for a truncated file: treat it as unreadable.
        raise ImageError("unreadable, corrupt or truncated image")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    return img


def read_image(
    path: str | os.PathLike, *, color: bool = True, max_bytes: int = MAX_IMAGE_BYTES
) -> np.ndarray:
    """An image file -> uint8 BGR (or gray). ImageError with the reason for anything that is not
    a regular, readable image file within the byte and pixel limits."""
    try:
        data = read_bounded(path, max_bytes)
    except OSError as e:
        raise ImageError(f"unreadable: {e.strerror or e}") from None
    return decode_image(data, color=color)
