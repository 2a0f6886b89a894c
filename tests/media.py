"""Test media generated from resources/demo (nothing downloaded). Other test files import these."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferapp.capture.demo import DemoSource


def demo_frames(n: int, faces: int = 1, seed: int = 0) -> list[np.ndarray]:
    """``n`` BGR 640x480 frames of the animated demo with 1, 2 or 4 faces."""
    src = DemoSource(faces, realtime=False, max_frames=n, seed=seed).open()
    try:
        return [f.image for f in src]
    finally:
        src.close()


def write_test_video(path: str | Path, n: int, fps: float = 30, faces: int = 1) -> Path:
    """Write ``n`` demo frames as a video cv2 can read back (MJPG .avi, or mp4v for .mp4)."""
    path = Path(path)
    if path.suffix.lower() not in (".avi", ".mp4"):
        path = path.with_suffix(".avi")
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = demo_frames(n, faces)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), fourcc, float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def write_image_folder(path: str | Path, n: int, corrupt: int = 1, faces: int = 1) -> Path:
    """``n`` demo frames as img_000.png... plus ``corrupt`` undecodable .jpg files."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(demo_frames(n, faces)):
        cv2.imwrite(str(path / f"img_{i:03d}.png"), f)
    for j in range(corrupt):
        (path / f"broken_{j}.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    return path


def small_face_frames(
    n: int, face_px: float = 54.0, faces: int = 1, size: tuple[int, int] = (640, 480), seed: int = 0
) -> list[np.ndarray]:
    """``n`` frames of ``size`` in which ``faces`` people (the demo portrait's head and shoulders,
    scaled so the face box is about ``face_px`` wide) stand side by side in front of a plain
    wall and sway slowly: a person sitting back from the camera, several people at one camera."""
    from ferapp.capture.demo import _FACE_CENTRE, _FACE_SIZE
    from ferapp.paths import demo_dir

    portrait = cv2.imread(str(demo_dir() / "astronaut.png"))
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    wall = (150 + 40 * xx / w - 25 * yy / h)[..., None] * np.array([0.95, 1.0, 1.05])
    wall = np.clip(wall + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    s = face_px / _FACE_SIZE
    # head and shoulders: 2.6 face boxes wide, from 1.3 above the face centre to the image bottom
    half = 1.3 * _FACE_SIZE
    x0, y0 = int(max(0, _FACE_CENTRE[0] - half)), int(max(0, _FACE_CENTRE[1] - half))
    x1, y1 = int(min(512, _FACE_CENTRE[0] + half)), 512
    part = cv2.resize(portrait[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    ph, pw = part.shape[:2]
    fcx, fcy = (_FACE_CENTRE[0] - x0) * s, (_FACE_CENTRE[1] - y0) * s
    centres = [((k + 0.5) * w / faces, 0.4 * h) for k in range(faces)]
    phase = rng.uniform(0, 2 * np.pi, size=(faces, 2))
    frames = []
    for i in range(n):
        img = wall.copy()
        for k, (cx, cy) in enumerate(centres):
            dx = 0.25 * face_px * np.sin(2 * np.pi * i / 60 + phase[k, 0])
            dy = 0.1 * face_px * np.sin(2 * np.pi * i / 45 + phase[k, 1])
            left, top = int(round(cx + dx - fcx)), int(round(cy + dy - fcy))
            a0, b0 = max(0, -top), max(0, -left)
            a1, b1 = min(ph, h - top), min(pw, w - left)
            if a1 > a0 and b1 > b0:
                img[top + a0 : top + a1, left + b0 : left + b1] = part[a0:a1, b0:b1]
        frames.append(img)
    return frames


def in_and_out_frames(
    n_in: int = 20, n_out: int = 25, n_back: int = 25, seed: int = 0
) -> tuple[list[np.ndarray], list[bool]]:
    """A face that is there, slides out of the frame, stays out, and slides back in.
    Returns (frames, visible) where visible[i] says whether the whole face is in frame i."""
    base = demo_frames(n_in + n_out + n_back, seed=seed)
    h, w = base[0].shape[:2]
    bg = np.full_like(base[0], 128)
    frames, visible = [], []
    slide = 8  # frames to slide out (and back)
    for i, img in enumerate(base):
        if i < n_in:
            dx = 0
        elif i < n_in + slide:
            dx = int(w * (i - n_in + 1) / slide)
        elif i < n_in + n_out:
            dx = w
        elif i < n_in + n_out + slide:
            dx = int(w * (1 - (i - n_in - n_out + 1) / slide))
        else:
            dx = 0
        out = bg.copy()
        if dx < w:
            out[:, dx:] = img[:, : w - dx]
        frames.append(out)
        visible.append(dx == 0)
    return frames, visible


def black_png(width: int, height: int) -> bytes:
    """A valid 8-bit gray PNG of ``width`` x ``height`` black pixels, built without compressing
    the pixels (instant at any size): a 30000 x 30000 one is ~1 MB on disk and 900 MB decoded,
    the decompression bomb the image readers must refuse before decoding. The zlib stream is one
    self-contained 1 MiB run of zeros (ended by a full flush) repeated; every byte of the raw
    image (filter byte + pixels per row) is 0, so its Adler-32 is ``((n % 65521) << 16) | 1``."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    n = (width + 1) * height
    block = 1 << 20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    run = co.compress(bytes(block)) + co.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(n % block)) + tail.flush()
    idat = b"\x78\xda" + run * (n // block) + last + struct.pack(">I", ((n % 65521) << 16) | 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )
