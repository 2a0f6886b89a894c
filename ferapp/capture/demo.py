"""The built-in demo source: an animated webcam-like stream made from one real portrait.

Used when no camera exists, by ``analyze``/``bench`` and by tests. It animates
``resources/demo/astronaut.png`` (NASA portrait, public domain) into a 640x480, 30 fps stream
with smooth head motion (translation, +-8 deg roll, breathing scale), slow lighting change and
mild sensor noise. ``faces=2|4`` tiles that many differently moving copies (odd tiles are
mirrored) into one frame. Everything is a function of (seed, frame index): deterministic.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from ferapp.capture.base import DEMO_FACES, FrameSource, Pacer, SourceError, register_source
from ferapp.paths import demo_dir
from ferapp.types import Frame

# Face in astronaut.png (512x512): centre and size of dlib's HOG box, measured once.
_FACE_CENTRE = (223.0, 127.0)
_FACE_SIZE = 88.0
_LAYOUT = {1: (1, 1), 2: (2, 1), 4: (2, 2)}  # faces -> (columns, rows)


@register_source("demo")
class DemoSource(FrameSource):
    """Animated demo stream. ``realtime=True`` paces to ``fps`` (live use); False is as fast as
    possible. ``max_frames=None`` is endless."""

    def __init__(
        self,
        faces: int = 1,
        *,
        size: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        realtime: bool = True,
        max_frames: int | None = None,
        seed: int = 0,
        noise: float = 3.0,
        face_frac: float = 0.42,
        image: str = "astronaut.png",
        **_,
    ):
        super().__init__()
        faces = int(faces)
        if faces not in DEMO_FACES:
            raise SourceError(f"demo supports {', '.join(map(str, DEMO_FACES))} faces, not {faces}")
        self.faces = faces
        self.name = "demo" if faces == 1 else f"demo:{faces}"
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.is_live = bool(realtime)
        self.realtime = bool(realtime)
        self.max_frames = max_frames
        self.seed = int(seed)
        self.noise = float(noise)
        self.face_frac = float(face_frac)
        self.image_name = image
        self.roll_amp = 8.0  # degrees of head roll
        self._i = 0

    # -- setup ---------------------------------------------------------------------------
    def _open(self) -> None:
        path = demo_dir() / self.image_name
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"Demo image missing: {path}")
        self._src = img
        self._src_mirror = np.ascontiguousarray(img[:, ::-1])
        w, h = self.size
        cols, rows = _LAYOUT[self.faces]
        self._tiles = []
        rng = np.random.default_rng(self.seed)
        for r in range(rows):
            for c in range(cols):
                x0, x1 = c * w // cols, (c + 1) * w // cols
                y0, y1 = r * h // rows, (r + 1) * h // rows
                tw, th = x1 - x0, y1 - y0
                k = len(self._tiles)
                self._tiles.append(
                    dict(
                        rect=(x0, y0, x1, y1),
                        mirror=k % 2 == 1,
                        face=min(self.face_frac * th, 0.55 * tw),
                        # per-tile motion: frequencies (Hz) and phases, all different
                        f=rng.uniform(0.12, 0.35, size=4),
                        ph=rng.uniform(0, 2 * math.pi, size=4),
                        amp=(0.07 * tw, 0.05 * th),
                    )
                )
        # a small bank of fixed noise fields (cheap: per frame only a saturating add/subtract)
        self._noise_bank = []
        if self.noise > 0:
            for _ in range(4):
                n = rng.normal(0, self.noise, size=(h, w, 3))
                self._noise_bank.append(
                    (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
                )
        self._light = rng.uniform(0, 2 * math.pi, size=2)
        self._i = 0
        self._pacer = Pacer()

    # -- rendering -----------------------------------------------------------------------
    def _pose(self, tile: dict, index: int) -> tuple[float, float, float, float]:
        """(dx, dy, roll_deg, scale) of one tile's face at frame ``index``."""
        f, ph = tile["f"], tile["ph"]
        s = 2 * math.pi * index / self.fps
        dx = tile["amp"][0] * math.sin(s * f[0] + ph[0])
        dy = tile["amp"][1] * math.sin(s * f[1] + ph[1])
        roll = self.roll_amp * math.sin(s * f[2] + ph[2])
        scale = tile["face"] / _FACE_SIZE * (1.0 + 0.06 * math.sin(s * f[3] + ph[3]))
        return dx, dy, roll, scale

    def truth(self, index: int) -> list[tuple[float, float, float, float]]:
        """Ground truth per face (tile order): (centre_x, centre_y, size, roll_deg) in frame
        pixels, where size is the side of the HOG-style face box. For tests and benchmarks."""
        if not self._opened:
            self.open()
        out = []
        for tile in self._tiles:
            x0, y0, x1, y1 = tile["rect"]
            dx, dy, roll, scale = self._pose(tile, index)
            out.append((x0 + (x1 - x0) / 2 + dx, y0 + (y1 - y0) / 2 + dy, _FACE_SIZE * scale, roll))
        return out

    def tile_source(self, tile: dict, index: int) -> np.ndarray:
        """The portrait a tile shows at frame ``index`` (``demo:driver`` animates it)."""
        return self._src_mirror if tile["mirror"] else self._src

    def render(self, index: int) -> np.ndarray:
        """The BGR frame for ``index`` (deterministic)."""
        w, h = self.size
        t = index / self.fps
        out = np.empty((h, w, 3), np.uint8)
        for tile in self._tiles:
            x0, y0, x1, y1 = tile["rect"]
            tw, th = x1 - x0, y1 - y0
            dx, dy, roll, scale = self._pose(tile, index)
            src = self.tile_source(tile, index)
            cx = (src.shape[1] - 1 - _FACE_CENTRE[0]) if tile["mirror"] else _FACE_CENTRE[0]
            cy = _FACE_CENTRE[1]
            m = cv2.getRotationMatrix2D((cx, cy), roll, scale)
            m[0, 2] += tw / 2 + dx - cx
            m[1, 2] += th / 2 + dy - cy
            out[y0:y1, x0:x1] = cv2.warpAffine(
                src, m, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
            )
        # lighting: slow global gain/offset drift
        gain = 1.0 + 0.18 * math.sin(2 * math.pi * 0.07 * t + self._light[0])
        bias = 10.0 * math.sin(2 * math.pi * 0.11 * t + self._light[1])
        cv2.convertScaleAbs(out, out, alpha=gain, beta=bias)
        if self._noise_bank:
            pos, neg = self._noise_bank[(index * 7 + self.seed) % len(self._noise_bank)]
            cv2.add(out, pos, out)
            cv2.subtract(out, neg, out)
        return out

    can_pause = True

    def pause(self) -> None:
        self._pacer.pause()

    def resume(self) -> None:
        self._pacer.resume()

    @property
    def position_s(self) -> float | None:
        return max(0, self._i - 1) / self.fps

    def _read(self) -> Frame | None:
        if self.max_frames is not None and self._i >= self.max_frames:
            return None
        i = self._i
        if self.realtime:
            self._pacer.wait(i / self.fps)
        img = self.render(i)
        self._i += 1
        return Frame(img, i, i / self.fps, time.time())
