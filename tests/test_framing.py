"""The framing script recovers a known framing; the stills path never tracks across images."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from media import demo_frames

from ferapp.detect import FaceFinder, alignment_matrix
from ferapp.detect.align import _warp
from ferapp.detect.framing import embed_face, face_geometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.measure_framing import measure, side_estimators


def _dataset_like_crops(eyes_at, chin_at, width, n=12):
    """48x48 gray crops of the demo face framed with known constants (a stand-in for FER2013)."""
    finder = FaceFinder("hog", background=False)
    out = []
    for img in demo_frames(n):
        f = finder.find_still(img)[0]
        m = alignment_matrix(f.landmarks, (48, 48), eyes_at=eyes_at, chin_at=chin_at, width=width)
        out.append(cv2.cvtColor(_warp(img, m, (48, 48)), cv2.COLOR_BGR2GRAY))
    return np.stack(out)


def test_measure_recovers_the_framing_of_a_known_dataset():
    for eyes_at, chin_at, width in ((0.40, 0.95, 0.78), (0.36, 1.05, 0.86)):
        rows, misses = measure(_dataset_like_crops(eyes_at, chin_at, width))
        assert misses <= 2 and len(rows) >= 10
        med = {k: float(np.median([r[k] for r in rows])) for k in ("eyes_at", "chin_at", "width", "centre_x")}
        # the crops were cut with the eye line and centre placed exactly and the side set to the
        # geometric mean of the eye-chin and width estimates: the measurement finds exactly that
        assert abs(med["eyes_at"] - eyes_at) < 0.02, med
        assert abs(med["centre_x"] - 0.5) < 0.02, med
        assert abs(med["chin_at"] - chin_at) < 0.1 and abs(med["width"] - width) < 0.1, med
        sides = [side_estimators(r, eyes_at, chin_at, width)["geometric mean"] for r in rows]
        assert abs(np.log(np.median(sides))) < 0.05  # fits on 4x-upscaled 48-px crops run ~3% tight
        assert all(abs(np.log(v)) < 0.08 for v in sides)


def test_embed_face_and_geometry_units():
    face = np.full((48, 48), 100, np.uint8)
    img, (left, top) = embed_face(face, 4.0, (300, 320))  # (H, W)
    assert img.shape == (300, 320) and (left, top) == (64.0, 54.0)
    lm = np.zeros((68, 2))
    lm[36:42] = [left + 0.3 * 192, top + 0.4 * 192]
    lm[42:48] = [left + 0.7 * 192, top + 0.4 * 192]
    lm[8] = [left + 0.5 * 192, top + 1.0 * 192]
    lm[0], lm[16] = [left + 0.1 * 192, top + 0.5 * 192], [left + 0.9 * 192, top + 0.5 * 192]
    lm[1:8] = lm[9:16] = [left + 0.5 * 192, top + 0.6 * 192]
    lm[17:36] = lm[48:68] = [left + 0.5 * 192, top + 0.6 * 192]
    g = face_geometry(lm, left, top, 192)
    assert abs(g["eyes_at"] - 0.4) < 1e-9 and abs(g["chin_at"] - 1.0) < 1e-9
    assert abs(g["width"] - 0.8) < 1e-9 and abs(g["centre_x"] - 0.5) < 1e-9 and abs(g["roll_deg"]) < 1e-9
