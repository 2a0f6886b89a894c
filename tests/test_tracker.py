"""FaceTracker: stable ids through misses, distinct ids for two faces, new ids for new faces."""

from __future__ import annotations

from ferapp.detect import FaceTracker, iou
from ferapp.types import Face


def F(x, y, w=100, h=100):
    return Face(box=(x, y, w, h))


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def test_id_survives_missed_frames():
    t = FaceTracker(max_missed=3)
    a = t.update([F(100, 100)])[0].face_id
    assert t.update([]) == []
    assert t.update([]) == []
    assert t.update([F(108, 104)])[0].face_id == a


def test_track_forgotten_after_max_missed():
    t = FaceTracker(max_missed=2)
    a = t.update([F(100, 100)])[0].face_id
    for _ in range(3):
        t.update([])
    assert t.update([F(100, 100)])[0].face_id != a


def test_two_faces_keep_distinct_ids_across_frames():
    t = FaceTracker()
    first = t.update([F(50, 100), F(400, 120)])
    left, right = first[0].face_id, first[1].face_id
    assert left != right
    for k in range(1, 20):
        faces = [F(400 - 3 * k, 120 + k), F(50 + 4 * k, 100)]  # list order swapped, both moving
        out = t.update(faces)
        assert out[0].face_id == right and out[1].face_id == left


def test_new_face_gets_new_id_and_others_keep_theirs():
    t = FaceTracker()
    a = t.update([F(0, 0)])[0].face_id
    out = t.update([F(2, 0), F(300, 300)])
    assert out[0].face_id == a and out[1].face_id not in (a, -1)


def test_centroid_fallback_for_scale_jump():
    t = FaceTracker(iou_threshold=0.3)
    a = t.update([F(100, 100, 100, 100)])[0].face_id
    # big zoom: IoU 0.25 < threshold, centres coincide
    assert t.update([F(50, 50, 200, 200)])[0].face_id == a
    # far jump: a different face
    assert t.update([F(500, 400, 100, 100)])[0].face_id != a


def test_reset_and_fields_preserved():
    t = FaceTracker()
    t.update([F(0, 0)])
    t.reset()
    out = t.update([Face(box=(5, 5, 50, 50), score=0.7)])
    assert out[0].face_id == 0 and out[0].score == 0.7 and out[0].box == (5, 5, 50, 50)
