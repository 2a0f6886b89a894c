"""Per-frame geometric measures from 68-point landmarks: eye/mouth aspect ratios and head pose.

All functions are pure and Qt-free. Landmarks follow the iBUG 300-W / dlib 68-point scheme in
frame pixels, (68, 2). "Left"/"right" below are the *subject's* (anatomical) sides: in an
unmirrored camera image the subject's right eye (points 36-41) appears on the image's left.

Eye aspect ratio (Soukupova & Cech, "Real-Time Eye Blink Detection using Facial Landmarks",
CVWW 2016), with p1..p6 the six points of one eye (p1/p4 the corners, p2,p3 upper lid,
p5,p6 lower lid)::

    EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)

Open eyes give roughly 0.25-0.35, closed eyes fall towards 0.

Mouth aspect ratio on the *inner* lip contour (points 60-67: 60 and 64 the inner corners,
61,62,63 the upper inner lip, 67,66,65 the lower inner lip facing them)::

    MAR = (|p61 - p67| + |p62 - p66| + |p63 - p65|) / (3 |p60 - p64|)

i.e. the mean inner-lip opening over the inner mouth width: ~0 for a closed mouth, ~0.2-0.4
talking, and above ~0.6 for a wide yawn.

Head pose: ``cv2.solvePnP`` fits a generic 3-D face (nose tip, chin, outer eye corners, mouth
corners) to the six matching landmarks with a pinhole camera whose focal length is the frame
width and whose principal point is the frame centre (no distortion). The model lives in a
camera-aligned frame (x to the image right, y down, z away from the camera) so a frontal face
has the identity rotation. Angles, in degrees, with R = Rz(roll) . Ry(-yaw) . Rx(-pitch):

- ``yaw``   > 0: face turned towards the subject's LEFT (nose moves to the image right in an
  unmirrored image). Mirroring the image flips its sign.
- ``pitch`` > 0: face tilted UP (nose up); looking down at the lap gives negative pitch.
- ``roll``  > 0: head tilted towards the subject's left shoulder (clockwise in the image).
  Mirroring flips its sign as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# 68-point indices
RIGHT_EYE = (36, 37, 38, 39, 40, 41)  # subject's right eye (image left when unmirrored)
LEFT_EYE = (42, 43, 44, 45, 46, 47)  # subject's left eye

# Landmark indices used for head pose, and the generic 3-D model (arbitrary units, ~mm x 2.5),
# in a camera-aligned frame: x right (subject's left), y down, z away from the camera.
POSE_INDICES = (30, 8, 36, 45, 48, 54)
POSE_MODEL_3D = np.array(
    [
        (0.0, 0.0, 0.0),  # 30 nose tip
        (0.0, 330.0, 65.0),  # 8 chin
        (-225.0, -170.0, 135.0),  # 36 right eye, outer corner
        (225.0, -170.0, 135.0),  # 45 left eye, outer corner
        (-150.0, 150.0, 125.0),  # 48 right mouth corner
        (150.0, 150.0, 125.0),  # 54 left mouth corner
    ],
    dtype=np.float64,
)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of one eye given its six points (6, 2) in 68-point order p1..p6."""
    p = np.asarray(eye, np.float64)
    width = _dist(p[0], p[3])
    if width <= 1e-9:
        return float("nan")
    return (_dist(p[1], p[5]) + _dist(p[2], p[4])) / (2.0 * width)


def eye_aspect_ratios(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(ear_left, ear_right, ear_mean) — subject's left eye (42-47), right eye (36-41), mean."""
    lm = np.asarray(landmarks)
    left = eye_aspect_ratio(lm[list(LEFT_EYE)])
    right = eye_aspect_ratio(lm[list(RIGHT_EYE)])
    return left, right, (left + right) / 2.0


def mouth_aspect_ratio(landmarks: np.ndarray) -> float:
    """Inner-lip MAR (see module docstring)."""
    lm = np.asarray(landmarks, np.float64)
    width = _dist(lm[60], lm[64])
    if width <= 1e-9:
        return float("nan")
    opening = _dist(lm[61], lm[67]) + _dist(lm[62], lm[66]) + _dist(lm[63], lm[65])
    return opening / (3.0 * width)


def camera_matrix(frame_shape: tuple[int, ...]) -> np.ndarray:
    """Pinhole intrinsics guessed from the frame size: f = width, centre = frame centre."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    f = float(w)
    return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64)


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Model -> camera rotation for the given angles (degrees, conventions of this module)."""
    a = math.radians(-pitch)  # about x
    b = math.radians(-yaw)  # about y
    c = math.radians(roll)  # about z
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def angles_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_angles`: (yaw, pitch, roll) in degrees."""
    sy = float(np.clip(-r[2, 0], -1.0, 1.0))
    b = math.asin(sy)  # rotation about y
    if abs(math.cos(b)) > 1e-6:
        a = math.atan2(r[2, 1], r[2, 2])
        c = math.atan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: put everything into roll
        a = 0.0
        c = math.atan2(-r[0, 1], r[1, 1])
    return -math.degrees(b), -math.degrees(a), math.degrees(c)


@dataclass(frozen=True, slots=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float
    rvec: np.ndarray  # Rodrigues vector, model -> camera
    tvec: np.ndarray  # model origin (nose tip) in camera coordinates


def head_pose(landmarks: np.ndarray, frame_shape: tuple[int, ...]) -> HeadPose | None:
    """Head pose from six landmarks by ``cv2.solvePnP``; None when the fit fails."""
    lm = np.asarray(landmarks, np.float64)
    image_pts = np.ascontiguousarray(lm[list(POSE_INDICES)]).reshape(-1, 1, 2)
    if not np.all(np.isfinite(image_pts)):
        return None
    k = camera_matrix(frame_shape)
    # Initial guess: frontal face at the distance implied by the outer-eye-corner span.
    eye_span = _dist(lm[36], lm[45])
    if eye_span < 1.0:
        return None
    z = k[0, 0] * 450.0 / eye_span
    nose = lm[30]
    tvec0 = np.array([[(nose[0] - k[0, 2]) * z / k[0, 0]], [(nose[1] - k[1, 2]) * z / k[1, 1]], [z]])
    rvec0 = np.zeros((3, 1))
    ok, rvec, tvec = cv2.solvePnP(
        POSE_MODEL_3D,
        image_pts,
        k,
        np.zeros((4, 1)),
        rvec=rvec0,
        tvec=tvec0,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or tvec[2, 0] <= 0:
        return None
    r, _ = cv2.Rodrigues(rvec)
    yaw, pitch, roll = angles_from_rotation(r)
    return HeadPose(yaw, pitch, roll, rvec.ravel().copy(), tvec.ravel().copy())


@dataclass(frozen=True, slots=True)
class FaceMeasures:
    """Everything measured on one face in one frame (NaN where unavailable)."""

    ear: float
    ear_left: float
    ear_right: float
    mar: float
    yaw: float
    pitch: float
    roll: float


def measure_face(landmarks: np.ndarray, frame_shape: tuple[int, ...]) -> FaceMeasures:
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {lm.shape}")
    left, right, ear = eye_aspect_ratios(lm)
    mar = mouth_aspect_ratio(lm)
    pose = head_pose(lm, frame_shape)
    nan = float("nan")
    yaw, pitch, roll = (pose.yaw, pose.pitch, pose.roll) if pose is not None else (nan, nan, nan)
    return FaceMeasures(ear, left, right, mar, yaw, pitch, roll)
