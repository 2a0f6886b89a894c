"""align_face / crop_box: eye line levelled, FER2013-like framing, channels preserved."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferapp.detect import (
    LandmarkPredictor,
    align_face,
    alignment_matrix,
    create_detector,
    crop_box,
    eye_angle,
)
from ferapp.paths import demo_dir


@pytest.fixture(scope="module")
def face():
    img = cv2.imread(str(demo_dir() / "astronaut.png"))
    box = create_detector("hog").detect(img)[0].box
    lm = LandmarkPredictor().predict(img, box)
    return img, lm


def _transform(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("degrees", [15.0, -15.0])
def test_rotated_face_comes_out_level(face, degrees):
    img, lm = face
    c = tuple(float(v) for v in lm.mean(axis=0))
    rot = cv2.getRotationMatrix2D(c, degrees, 1.0)
    rimg = cv2.warpAffine(img, rot, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    rlm = _transform(rot, lm.astype(np.float64))
    assert abs(eye_angle(rlm)) > 10  # the input really is tilted

    out = (192, 192)
    m = alignment_matrix(rlm, out)
    assert abs(eye_angle(_transform(m, rlm))) < 1e-6  # transformed landmarks: level

    crop = align_face(rimg, rlm, out)
    assert crop.shape == (192, 192, 3)
    # re-detect on the aligned crop (padded so the detector window fits) and re-fit landmarks
    pad = 48
    padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = create_detector("hog").detect(padded)
    assert boxes, "no face re-detected in the aligned crop"
    lm2 = LandmarkPredictor().predict(padded, boxes[0].box)
    assert abs(eye_angle(lm2)) < 3.0


def test_fer2013_like_framing(face):
    """The aligned crop puts the landmarks where FER2013 has them (the measured constants)."""
    from ferapp.detect.align import CENTRE_X, CHIN_AT, EYES_AT, WIDTH

    img, lm = face
    m = alignment_matrix(lm, (48, 48))
    p = _transform(m, lm.astype(np.float64))
    eyes_y = p[36:48, 1].mean() / 48
    chin_y = p[8, 1] / 48
    width = (p[:, 0].max() - p[:, 0].min()) / 48
    centre = (p[:, 0].max() + p[:, 0].min()) / 2 / 48
    assert abs(eyes_y - EYES_AT) < 0.02  # the eye line is placed exactly
    # the side is the geometric mean of the eye-chin and width estimates: each within ~6%
    assert abs(chin_y - CHIN_AT) < 0.06 and abs(width - WIDTH) < 0.06
    assert abs(np.log((chin_y - eyes_y) / (CHIN_AT - EYES_AT)) + np.log(width / WIDTH)) < 1e-6
    assert abs(centre - CENTRE_X) < 1e-6


def test_channels_and_size_preserved(face):
    img, lm = face
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    a = align_face(gray, lm)
    b = align_face(img, lm)
    c = align_face(img, lm, out_size=(64, 48))  # (H, W), like every size in ferapp
    assert a.shape == (48, 48) and a.dtype == np.uint8
    assert b.shape == (48, 48, 3) and b.dtype == np.uint8
    assert c.shape == (64, 48, 3)
    assert crop_box(img, (60, 10, 60, 60), out_size=(40, 32)).shape == (40, 32, 3)
    # gray crop equals the gray of the colour crop (same geometry)
    assert np.abs(cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(int) - a.astype(int)).mean() < 3


def test_crop_box_replicates_border():
    img = np.full((100, 100), 100, np.uint8)
    img[:, -1] = 200  # right edge column
    crop = crop_box(img, (60, 10, 60, 60), out_size=(32, 32))
    assert crop.shape == (32, 32)
    assert crop.min() >= 100  # no black fill from outside the image
    assert crop[:, -1].mean() > 190  # the edge value was replicated outwards
    colour = crop_box(np.dstack([img] * 3), (10, 10, 30, 30))
    assert colour.shape == (48, 48, 3)
