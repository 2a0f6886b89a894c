"""``demo:driver``: the demo portrait acts out a drive, so every driver alert can be shown
without a camera.

The face of ``resources/demo/astronaut.png`` is *warped*, never annotated: a piecewise-affine
warp moves the portrait's own pixels so that its eyelids close, its jaw drops into a yawn, its
head turns and its brows and mouth corners make a sad face. Nothing else is fed to the
monitor: the real pipeline (dlib detector and 68 landmarks, EAR/MAR/head pose, the expression
model) has to see each act, exactly as it would see a camera.

How a frame is made: the 68 landmarks of the still portrait (dlib, measured once) plus a few
control points (eye and teeth outlines, lid creases, a ring around the head and a fixed box)
are triangulated once (Delaunay). Each act moves control points to new targets: lids onto the
lower lid line (the eye's triangles collapse, the lid skin stretches over the eye); the lower
jaw down with a dark mouth cavity painted inside the inner lips (yawn); every face point
rotated about the head's vertical axis with depths from the generic 3-D face of
``ferapp.monitor.synthetic`` (head turn; the jaw line, the head's silhouette, stays); smooth
displacement fields for the brows and mouth corners, and the teeth gap closed (sad). Each
triangle is then mapped by its own affine transform (one ``cv2.remap``). The warped portrait
goes through the plain demo's framing (640x480, gentle head motion, lighting drift, sensor
noise). "Face lost" is a hand over the lens: the frame darkens and blurs.

The timeline (seconds from the start; each act eases in and out over 0.05-0.5 s) and the
alert it raises under the default ``DriverMonitorConfig``, with the times measured through the
real pipeline (default detector and model, ``ferapp analyze demo:driver --driver``, at 30 and
10 fps): "announced" is when the alert starts sounding (the event's start is back-dated to the
onset), "ends" when it clears.

=============  ===========  ==================================================================
act            time (s)     alert
=============  ===========  ==================================================================
blink          1.50-1.65    none (a blink)
eyes closed    4.0-6.0      drowsy (eyes closed >= 1.5 s): announced 5.6, ends 6.0
yawn           8.0-12.5     yawn (MAR > 0.6 for 1 s): announced 9.3-9.8, ends 9.9-11.5 (dlib's
                            inner-lip points under-read the open mouth: MAR 0.55-0.75)
looks left     14.0-18.0    distraction (yaw > 30 deg for 2 s): announced 16.3-16.4, ends 17.7-17.8
heavy eyelids  20.5-21.7,   PERCLOS above 15% of the observed time (with the closure at 4 s):
               23.0-24.2,   announced 23.5, ends when it falls below 12% at 46.7; each 1.2 s
               25.5-26.7    closure is a (slow) blink
hand on lens   28.5-31.5    face lost (> 2 s): announced 30.7, ends 31.4
sad face       33.5-41.0    sustained emotion (sad > 50% for 5 s): announced 38.9-39.0, ends 40.6
=============  ===========  ==================================================================

The sad face is read as sad > 50% by the default model (0.58 on a still frame; resnet20_jit
0.54); the other shipped models read it as sad 0.32-0.49, as fear (bdnn4) or happy (cc_lenet5).
Calibration (the first 3 s of face) completes before the first act. The stream lasts
``DURATION`` s and then ends (batch use: ``ferapp analyze demo:driver --driver``) or, when
played live (the GUI), starts over. Everything is a function of the frame index:
deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ferapp.capture.base import register_source
from ferapp.capture.demo import DemoSource

# dlib's 68 landmarks of astronaut.png (512x512), measured once (HOG box (175,76)-(265,166),
# shape_predictor_68_face_landmarks), in source pixels.
_LANDMARKS = np.array(
    [
        (179, 104),
        (179, 116),
        (180, 128),
        (181, 139),
        (185, 151),
        (191, 160),
        (200, 169),
        (209, 176),
        (221, 178),
        (232, 177),
        (243, 171),
        (253, 164),
        (260, 154),
        (265, 144),
        (268, 132),
        (270, 121),
        (272, 109),
        (186, 94),
        (192, 88),
        (200, 87),
        (208, 89),
        (216, 92),
        (236, 94),
        (244, 91),
        (252, 91),
        (260, 92),
        (265, 98),
        (226, 102),
        (225, 111),
        (225, 119),
        (225, 127),
        (214, 131),
        (219, 133),
        (224, 134),
        (229, 133),
        (234, 132),
        (195, 101),
        (200, 98),
        (207, 98),
        (212, 104),
        (206, 104),
        (200, 104),
        (237, 105),
        (243, 100),
        (250, 100),
        (255, 104),
        (250, 106),
        (244, 106),
        (200, 139),
        (209, 139),
        (218, 139),
        (223, 141),
        (230, 140),
        (237, 140),
        (245, 141),
        (237, 151),
        (229, 155),
        (222, 155),
        (216, 154),
        (208, 149),
        (203, 140),
        (218, 143),
        (223, 144),
        (229, 143),
        (243, 142),
        (229, 150),
        (223, 150),
        (217, 149),
    ],
    dtype=np.float64,
)
# The smile's teeth gap, traced by hand on the portrait: its upper and lower edges.
_TEETH_TOP = np.array(
    [(206, 141), (211, 141.5), (216, 142), (222, 142), (228, 142), (234, 141.5), (239, 141.5)]
)
_TEETH_BOTTOM = np.array(
    [(206, 145), (211, 148.5), (216, 149.5), (222, 150), (228, 150), (234, 148.5), (239, 145.5)]
)
_ROI = (150, 40, 302, 214)  # the part of the portrait that is re-rendered (x0, y0, x1, y1): the ring

DURATION = 49.0  # seconds: the last alert (PERCLOS) clears at ~46.7 s
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class Act:
    """One scripted act: ``kind`` is held at ``level`` from ``start`` to ``end`` (seconds),
    eased in and out over ``ramp`` seconds inside that span."""

    kind: str  # "eyes" (closure), "yawn", "yaw", "sad", "cover"
    start: float
    end: float
    ramp: float
    level: float = 1.0


TIMELINE: tuple[Act, ...] = (
    Act("eyes", 1.50, 1.65, 0.05),  # an ordinary blink
    Act("eyes", 4.00, 6.00, 0.12),  # eyes closed 2 s: drowsy
    Act("yawn", 8.00, 12.50, 0.50),  # a yawn lasts 4-7 s
    Act("yaw", 14.00, 18.00, 0.40, 45.0),  # looks to her left (nose to the image right) and back
    Act("eyes", 20.50, 21.70, 0.12),  # heavy eyelids: PERCLOS rises above 15%
    Act("eyes", 23.00, 24.20, 0.12),
    Act("eyes", 25.50, 26.70, 0.12),
    Act("cover", 28.50, 31.50, 0.15),  # a hand over the lens: face lost
    Act("sad", 33.50, 41.00, 0.50),
)


@dataclass(frozen=True)
class FaceControls:
    """What the face does at one instant."""

    eyes: float = 1.0  # lid opening: 1 open, 0 shut
    yawn: float = 0.0  # 0..1
    yaw: float = 0.0  # head turn in degrees (> 0: to the subject's left, nose towards the image right)
    sad: float = 0.0  # 0..1
    cover: float = 0.0  # 0..1, a hand over the lens

    @property
    def neutral(self) -> bool:
        return self == _NEUTRAL


_NEUTRAL = FaceControls()


def _ease(t: float, act: Act) -> float:
    """0 outside the act, ``level`` inside, smooth (raised cosine) ramps at both ends."""
    if t <= act.start or t >= act.end:
        return 0.0
    r = min(act.ramp, (act.end - act.start) / 2)
    x = min(t - act.start, act.end - t)
    if r <= 0 or x >= r:
        return act.level
    return act.level * 0.5 * (1 - math.cos(math.pi * x / r))


def controls_at(t: float, timeline: tuple[Act, ...] = TIMELINE) -> FaceControls:
    v = {"eyes": 0.0, "yawn": 0.0, "yaw": 0.0, "sad": 0.0, "cover": 0.0}
    for act in timeline:
        v[act.kind] = max(v[act.kind], _ease(t, act)) if act.kind != "yaw" else v["yaw"] + _ease(t, act)
    return FaceControls(eyes=1.0 - v["eyes"], yawn=v["yawn"], yaw=v["yaw"], sad=v["sad"], cover=v["cover"])


def _expand(points: np.ndarray, fx: float, fy: float, dy: float = 0.0) -> np.ndarray:
    c = points.mean(axis=0)
    return c + (points - c) * (fx, fy) + (0.0, dy)


def _delaunay(points: np.ndarray, size: int) -> np.ndarray:
    sub = cv2.Subdiv2D((0, 0, size, size))
    for x, y in points:
        sub.insert((float(x), float(y)))
    index = {(round(float(x), 2), round(float(y), 2)): i for i, (x, y) in enumerate(points)}
    tris = []
    for t in sub.getTriangleList():
        ids = [index.get((round(float(t[2 * k]), 2), round(float(t[2 * k + 1]), 2))) for k in range(3)]
        if None not in ids:
            tris.append(ids)
    return np.array(tris, np.int32)


class FaceWarper:
    """Warps the portrait to the targets of a :class:`FaceControls` (see the module docstring)."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray = _LANDMARKS):
        from ferapp.monitor.synthetic import HEAD_CENTRE, face_model_3d

        self.image = image
        lm = np.asarray(landmarks, np.float64)
        self.lm = lm
        self.face_h = lm[8, 1] - (lm[19, 1] + lm[24, 1]) / 2  # brow to chin
        eye_r, eye_l = lm[36:42], lm[42:48]
        extra = [
            _expand(eye_r, 1.2, 1.45),
            _expand(eye_l, 1.2, 1.45),  # eye apertures (68-73, 74-79)
            _expand(lm[[37, 38]], 1, 1, -4.0),
            _expand(lm[[43, 44]], 1, 1, -4.0),  # lid creases (80-83)
            _TEETH_TOP,
            _TEETH_BOTTOM,  # teeth gap (84-90, 91-97)
        ]
        face = np.vstack([lm, *extra])
        self.n_face = len(face)
        self.i_ap = (68, 74)
        self.i_crease = (80, 82)
        self.i_teeth = (84, 91)
        centre = lm.mean(axis=0)
        ring = np.array(
            [
                centre + (70.0 * math.cos(a), 81.0 * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, 20, endpoint=False)
            ]
        )
        # fixed points beyond the ring: the band between them is the unchanged background
        box = np.array(
            [(110, 10), (340, 10), (340, 250), (110, 250), (225, 10), (225, 250), (110, 130), (340, 130)],
            np.float64,
        )
        x0, y0, x1, y1 = _ROI
        self.src = np.vstack([face, ring, box])
        self.tris = _delaunay(self.src, max(image.shape[:2]))
        # depth of each face point for head turns: the generic 3-D face fitted to the portrait
        # (scale and shift of its x, y by least squares); extra points take their nearest landmark's
        m3 = face_model_3d()
        a = np.c_[m3[:, :2].reshape(-1, 1), np.tile(np.eye(2), (68, 1))]
        s, tx, ty = np.linalg.lstsq(a, lm.reshape(-1), rcond=None)[0]
        z = np.empty(self.n_face)
        z[:68] = m3[:, 2] * s
        for i in range(68, self.n_face):
            z[i] = z[int(np.argmin(np.linalg.norm(lm - face[i], axis=1)))]
        z[30] = z[29]  # a softer nose: its tip would fold over the nostrils in a turn
        z[31:36] = np.minimum(z[31:36], z[29] + 0.5 * (z[31:36] - z[29]))
        self.z = z - HEAD_CENTRE[2] * s
        self.pivot = (tx, ty)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        self._xx, self._yy = xx.astype(np.float32), yy.astype(np.float32)
        self._bases = self._basis()
        self._cache: tuple[FaceControls, np.ndarray] | None = None

    # -- targets ------------------------------------------------------------------------------
    def _field(self, pts: np.ndarray, centre, sigma: float, v) -> np.ndarray:
        """A smooth displacement (Gaussian fall-off; ``sigma`` and ``v`` in face heights)."""
        w = np.exp(-np.sum((pts - np.asarray(centre)) ** 2, axis=1) / (2 * (sigma * self.face_h) ** 2))
        return w[:, None] * (np.asarray(v, np.float64) * self.face_h)[None, :]

    def _basis(self) -> dict[str, np.ndarray]:
        """Displacement of every face point at full strength of each act (targets are linear in
        the strengths): eyes shut, yawn, sad."""
        src = self.src[: self.n_face]
        lm, fh = self.lm, self.face_h
        shut = np.zeros_like(src)  # lids meet a third of the way up from the lower lid
        for ap0, eye, crease in (
            (self.i_ap[0], range(36, 42), self.i_crease[0]),
            (self.i_ap[1], range(42, 48), self.i_crease[1]),
        ):
            idx = list(range(ap0, ap0 + 6)) + list(eye)
            top, bottom = src[ap0 : ap0 + 6, 1].min(), src[ap0 : ap0 + 6, 1].max()
            shut[idx, 1] = bottom - 0.35 * (bottom - top) - src[idx, 1]
            shut[[crease, crease + 1], 1] = 3.0  # the lid skin follows a little
        t0, b0 = self.i_teeth
        tt, tb = src[t0 : t0 + 7], src[b0 : b0 + 7]
        sad = np.zeros_like(src)
        # the teeth gap closes (the lips meet a little below its middle) ...
        meet = tb[:, 1] - 0.45 * (tb[:, 1] - tt[:, 1])
        for i in list(range(60, 68)) + list(range(t0, t0 + 14)):
            sad[i, 1] = np.interp(src[i, 0], tt[:, 0], meet) - src[i, 1]
        for lips, edge in (((49, 50, 51, 52, 53), tt), ((55, 56, 57, 58, 59), tb)):
            for i in lips:
                sad[i, 1] = 0.6 * (
                    np.interp(src[i, 0], tt[:, 0], meet) - np.interp(src[i, 0], edge[:, 0], edge[:, 1])
                )
        sad *= _SAD["mouth_shut"]
        # ... and the brows and mouth corners make the face sad
        for key, sigma, centre, v in _sad_fields(lm):
            sad += self._field(src, centre, sigma, np.asarray(v) * _SAD[key])
        yawn = np.zeros_like(src)  # the lower jaw drops (most at the chin), the upper lip rises
        drop = 0.22 * fh
        nose_y, chin_x, chin_y = lm[30, 1], lm[8, 0], lm[8, 1]
        lower = [i for i in range(17) if src[i, 1] > nose_y] + [55, 56, 57, 58, 59, 65, 66, 67]
        lower += list(range(b0, b0 + 7))
        for i in lower:
            wy = 1.0 if i > 16 else min(1.0, (src[i, 1] - nose_y) / (chin_y - nose_y))
            yawn[i, 1] = drop * wy * math.exp(-(((src[i, 0] - chin_x) / (0.6 * fh)) ** 2))
        yawn[[61, 62, 63, *range(t0, t0 + 7)], 1] = -0.06 * fh
        yawn[[49, 50, 51, 52, 53], 1] = -0.036 * fh
        for i in (48, 60, 54, 64):  # the corners come in a little: a round mouth
            yawn[i] = ((1 if lm[i, 0] < chin_x else -1) * 0.04 * fh, 0.4 * drop)
        return {"shut": shut, "sad": sad, "yawn": yawn}

    def targets(self, c: FaceControls) -> np.ndarray:
        """Where every control point goes (same order as ``self.src``)."""
        b = self._bases
        d = (
            self.src[: self.n_face]
            + (1.0 - max(0.0, c.eyes)) * b["shut"]
            + c.yawn * b["yawn"]
            + c.sad * b["sad"]
        )
        if c.yaw:
            from ferapp.monitor.measures import rotation_from_angles

            r = rotation_from_angles(c.yaw, 0.0, 0.0)
            px, py = self.pivot
            dx = (np.c_[d[:, 0] - px, d[:, 1] - py, self.z] @ r.T)[:, 0] + px - d[:, 0]
            # the jaw line is the head's silhouette: it stays, except towards the chin
            dx[:17] *= np.cos(np.pi * np.arange(17) / 16.0 - np.pi / 2.0) ** 2
            d[:, 0] += dx
        return np.vstack([d, self.src[self.n_face :]])

    # -- rendering ----------------------------------------------------------------------------
    def warp(self, dst: np.ndarray) -> np.ndarray:
        """The portrait with each triangle of ``self.src`` mapped onto the same triangle of ``dst``."""
        x0, y0, x1, y1 = _ROI
        tri_dst = dst[self.tris]  # (T, 3, 2)
        v1, v2 = tri_dst[:, 1] - tri_dst[:, 0], tri_dst[:, 2] - tri_dst[:, 0]
        # a collapsed triangle (a closed eye, a closed mouth) shows nothing
        good = np.flatnonzero(np.abs(v1[:, 0] * v2[:, 1] - v1[:, 1] * v2[:, 0]) >= 1e-3)
        # affine map of each triangle, target -> source: [x y 1] @ m = [u v]
        homog = np.concatenate([tri_dst[good], np.ones((len(good), 3, 1))], axis=2)
        m = np.linalg.solve(homog, self.src[self.tris[good]])  # (G, 3, 2)
        mats = np.zeros((len(self.tris) + 1, 6), np.float32)
        mats[-1] = (1, 0, 0, 0, 1, 0)  # outside every triangle: unchanged
        mats[good] = m.transpose(0, 2, 1).reshape(-1, 6)
        ids = np.full((y1 - y0, x1 - x0), len(self.tris), np.int32)
        corners = np.round((tri_dst - (x0, y0)) * 16).astype(np.int32)
        for t in good.tolist():
            cv2.fillConvexPoly(ids, corners[t], t, cv2.LINE_8, 4)
        coef = [np.take(mats[:, k], ids) for k in range(6)]
        mx = coef[0] * self._xx
        mx += coef[1] * self._yy
        mx += coef[2]
        my = coef[3] * self._xx
        my += coef[4] * self._yy
        my += coef[5]
        out = self.image.copy()
        out[y0:y1, x0:x1] = cv2.remap(self.image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return out

    def _paint_cavity(self, img: np.ndarray, dst: np.ndarray, amount: float) -> None:
        """The dark inside of an open mouth, inside the inner lips (a smooth closed curve)."""
        p1 = dst[60:68]  # Catmull-Rom through the eight inner-lip points, 6 steps per segment
        p0, p2, p3 = np.roll(p1, 1, axis=0), np.roll(p1, -1, axis=0), np.roll(p1, -2, axis=0)
        t = np.linspace(0, 1, 6, endpoint=False)[None, :, None]
        pts = 0.5 * (
            2 * p1[:, None]
            + (p2 - p0)[:, None] * t
            + (2 * p0 - 5 * p1 + 4 * p2 - p3)[:, None] * t**2
            + (3 * p1 - p0 - 3 * p2 + p3)[:, None] * t**3
        ).reshape(-1, 2)
        x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 3
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 4
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((pts - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] * (
            min(1.0, 1.5 * amount) / 255
        )
        roi = img[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] = (roi * (1 - alpha) + np.array((30, 22, 55), np.float32) * alpha).astype(np.uint8)

    def render(self, c: FaceControls) -> np.ndarray:
        """The portrait doing ``c`` (the unchanged portrait when ``c`` is neutral; the last
        result is reused while ``c`` does not change)."""
        face = FaceControls(c.eyes, c.yawn, c.yaw, c.sad)  # the lens cover is not the face's
        if face.neutral:
            return self.image
        if self._cache is not None and self._cache[0] == face:
            return self._cache[1]
        dst = self.targets(face)
        img = self.warp(dst)
        if face.yawn > 0.05:
            self._paint_cavity(img, dst, face.yawn)
        self._cache = (face, img)
        return img


# The sad face: the teeth gap partly closed and smooth displacement fields (centre, width in
# face heights, displacement in face heights per unit) with their weights. The weights come
# from a small random search (folds not allowed) for what the default expression model reads as
# sad at three framings; to a person the result looks sad as well.
def _sad_fields(lm: np.ndarray):
    return (
        ("brow_inner_up", 0.08, lm[21], (0.0, -0.06)),
        ("brow_inner_up", 0.08, lm[22], (0.0, -0.06)),
        ("brow_down", 0.11, lm[19], (0.03, 0.06)),
        ("brow_down", 0.11, lm[24], (-0.03, 0.06)),
        ("brow_outer_down", 0.08, lm[17], (0.0, 0.05)),
        ("brow_outer_down", 0.08, lm[26], (0.0, 0.05)),
        ("lid_up", 0.05, lm[[37, 38]].mean(0) - (0, 2), (0.0, -0.03)),
        ("lid_up", 0.05, lm[[43, 44]].mean(0) - (0, 2), (0.0, -0.03)),
        ("corner_down", 0.07, lm[48], (0.0, 0.06)),
        ("corner_down", 0.07, lm[54], (0.0, 0.06)),
        ("lip_stretch", 0.07, lm[48], (-0.05, 0.0)),
        ("lip_stretch", 0.07, lm[54], (0.05, 0.0)),
        ("corner_in", 0.07, lm[48], (0.04, 0.0)),
        ("corner_in", 0.07, lm[54], (-0.04, 0.0)),
        ("chin_up", 0.12, (lm[57] + lm[8]) / 2, (0.0, -0.04)),
        ("cheek_down", 0.10, lm[[41, 31, 48]].mean(0), (0.0, 0.04)),
        ("cheek_down", 0.10, lm[[46, 35, 54]].mean(0), (0.0, 0.04)),
    )


_SAD = {
    "mouth_shut": 0.54,
    "brow_inner_up": 1.63,
    "brow_down": 0.67,
    "brow_outer_down": 0.70,
    "lid_up": 0.0,
    "corner_down": 2.19,
    "chin_up": 1.20,
    "lip_stretch": 0.94,
    "corner_in": 2.04,
    "cheek_down": 1.67,
}


@register_source("demo_driver")
class DriverDemoSource(DemoSource):
    """The ``demo:driver`` stream (see the module docstring). ``loop``: start the timeline over
    at its end (default: when played in real time); otherwise the stream ends after
    ``DURATION`` s."""

    def __init__(
        self,
        _arg=None,
        *,
        fps: float | None = None,
        realtime: bool = True,
        max_frames: int | None = None,
        seed: int = 0,
        noise: float = 3.0,
        loop: bool | None = None,
        **kw,
    ):
        super().__init__(
            1, fps=fps or DEFAULT_FPS, realtime=realtime, max_frames=max_frames, seed=seed, noise=noise, **kw
        )
        self.name = "demo:driver"
        self.loop = bool(realtime) if loop is None else bool(loop)
        self.period_frames = int(round(DURATION * self.fps))
        if not self.loop:
            self.frame_count = self.period_frames
            self.max_frames = min(max_frames or self.period_frames, self.period_frames)
        self.roll_amp = 2.0  # a driver's head moves less than the plain demo's

    def _open(self) -> None:
        super()._open()
        w, h = self.size
        for tile in self._tiles:
            tile["amp"] = (0.02 * w, 0.015 * h)
        self._warper = FaceWarper(self._src)

    def media_time(self, index: int) -> float:
        """Timeline time of frame ``index`` (it wraps when looping)."""
        return (index % self.period_frames) / self.fps if self.loop else index / self.fps

    def controls(self, index: int) -> FaceControls:
        return controls_at(self.media_time(index))

    def tile_source(self, tile: dict, index: int) -> np.ndarray:
        return self._warper.render(self.controls(index))

    def render(self, index: int) -> np.ndarray:
        out = super().render(index)
        cover = self.controls(index).cover
        if cover > 0:  # a hand over the lens: dark, out of focus
            h, w = out.shape[:2]
            small = cv2.resize(out, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
            blurred = cv2.resize(cv2.GaussianBlur(small, (0, 0), 3), (w, h), interpolation=cv2.INTER_LINEAR)
            out = cv2.addWeighted(out, 1.0 - cover, blurred, 0.25 * cover, 12.0 * cover)
        return out


__all__ = ["Act", "DURATION", "DriverDemoSource", "FaceControls", "FaceWarper", "TIMELINE", "controls_at"]
