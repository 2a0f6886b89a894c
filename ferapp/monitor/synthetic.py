"""A synthetic 68-point face whose eyes, mouth and head pose can be set exactly.

Used by the tests and the driver-panel demo: a generic 3-D face (same frame and units as
:data:`ferapp.monitor.measures.POSE_MODEL_3D`, which it contains) is rotated about the head
centre and projected with the camera of :func:`ferapp.monitor.measures.camera_matrix`.
With ``eye_open=1`` the frontal EAR is ~0.30; ``mouth_open`` is the frontal MAR directly.
"""

from __future__ import annotations

import numpy as np

from ferapp.monitor.measures import camera_matrix, rotation_from_angles

OPEN_EYE_HALF_HEIGHT = 22.5  # eye 150 wide -> EAR = 2 * 22.5 / 150 = 0.30
HEAD_CENTRE = np.array([0.0, 0.0, 250.0])


def _mirror_permutation() -> np.ndarray:
    """Index map of the 68-point scheme under a horizontal flip (a detector relabels sides)."""
    perm = np.arange(68)
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


MIRROR_PERMUTATION = _mirror_permutation()


def face_model_3d(
    eye_open: float = 1.0, mouth_open: float = 0.0, eye_open_right: float | None = None
) -> np.ndarray:
    """(68, 3) model points. ``eye_open`` scales lid opening (1 = open, 0 = shut)."""
    p = np.zeros((68, 3), dtype=np.float64)
    # jaw 0..16: a U from ear level down to the chin (point 8 = (0, 330, 65))
    for i in range(17):
        a = np.pi * (i / 16.0) - np.pi / 2.0
        p[i] = (290.0 * np.sin(a), -60.0 + 390.0 * np.cos(a), 65.0 + 200.0 * (1 - np.cos(a)))
    # brows 17..21 (right), 22..26 (left)
    for j, x in enumerate(np.linspace(-280, -60, 5)):
        p[17 + j] = (x, -250.0 - 20 * np.sin(np.pi * j / 4), 120.0)
    for j, x in enumerate(np.linspace(60, 280, 5)):
        p[22 + j] = (x, -250.0 - 20 * np.sin(np.pi * j / 4), 120.0)
    # nose bridge 27..30 (30 = tip at the origin), nostrils 31..35
    for j in range(4):
        p[27 + j] = (0.0, -170.0 + j * 170.0 / 3.0, 100.0 - j * 100.0 / 3.0)
    for j, x in enumerate(np.linspace(-80, 80, 5)):
        p[31 + j] = (x, 40.0 + (10.0 if j == 2 else 0.0), 80.0)
    # eyes: right 36..41 (outer corner 36), left 42..47 (outer corner 45)
    hr = OPEN_EYE_HALF_HEIGHT * (eye_open if eye_open_right is None else eye_open_right)
    hl = OPEN_EYE_HALF_HEIGHT * eye_open
    y, z = -170.0, 135.0
    p[36], p[39] = (-225, y, z), (-75, y, z)
    p[37], p[38] = (-175, y - hr, z), (-125, y - hr, z)
    p[40], p[41] = (-125, y + hr, z), (-175, y + hr, z)
    p[42], p[45] = (75, y, z), (225, y, z)
    p[43], p[44] = (125, y - hl, z), (175, y - hl, z)
    p[46], p[47] = (175, y + hl, z), (125, y + hl, z)
    # mouth: outer 48..59, inner 60..67; inner opening g gives MAR = 2g / 260
    g = mouth_open * 130.0
    ym, zm = 150.0, 125.0
    p[48], p[54] = (-150, ym, zm), (150, ym, zm)
    for j, x in enumerate((-100, -50, 0, 50, 100)):  # 49..53 upper outer
        p[49 + j] = (x, ym - g - 25, zm - 5)
    for j, x in enumerate((100, 50, 0, -50, -100)):  # 55..59 lower outer
        p[55 + j] = (x, ym + g + 25, zm - 5)
    p[60], p[64] = (-130, ym, zm), (130, ym, zm)
    for j, x in enumerate((-50, 0, 50)):  # 61..63 upper inner
        p[61 + j] = (x, ym - g, zm)
    for j, x in enumerate((50, 0, -50)):  # 65..67 lower inner
        p[65 + j] = (x, ym + g, zm)
    return p


def synthetic_landmarks(
    eye_open: float = 1.0,
    mouth_open: float = 0.0,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    frame_shape: tuple[int, int] = (480, 640),
    distance: float = 2400.0,
    offset: tuple[float, float] = (0.0, 0.0),
    eye_open_right: float | None = None,
    mirror: bool = False,
) -> np.ndarray:
    """(68, 2) float32 landmarks of the synthetic face seen by the module's pinhole camera."""
    pts = face_model_3d(eye_open, mouth_open, eye_open_right) - HEAD_CENTRE
    r = rotation_from_angles(yaw, pitch, roll)
    cam = pts @ r.T + HEAD_CENTRE + np.array([offset[0], offset[1], distance])
    k = camera_matrix(frame_shape)
    uv = cam[:, :2] / cam[:, 2:3] * np.array([k[0, 0], k[1, 1]]) + k[:2, 2]
    if mirror:
        uv[:, 0] = frame_shape[1] - 1 - uv[:, 0]
        uv = uv[MIRROR_PERMUTATION]
    return uv.astype(np.float32)
