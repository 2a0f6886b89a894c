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
