"""Detectors, model lookup, landmarks, extract_face, and the FaceFinder fast path."""

from __future__ import annotations

import numpy as np
import pytest
from media import demo_frames, in_and_out_frames, small_face_frames

from ferapp.capture import DemoSource
from ferapp.detect import (
    FaceFinder,
    LandmarkPredictor,
    create_detector,
    dlib_model_path,
    extract_face,
    list_detectors,
)
from ferapp.types import Face


@pytest.fixture(scope="module")
def demo():
    src = DemoSource(1, realtime=False).open()
    return src.render(7), src.truth(7)[0]


@pytest.fixture(scope="module")
def predictor():
    return LandmarkPredictor()


def test_registry_lists_and_rejects_unknown():
    assert {"hog", "cnn", "haar"} <= set(list_detectors())
    with pytest.raises(ValueError, match="hog"):
        create_detector("no-such-detector")


def test_dlib_model_paths():
    for name in ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat"):
        p = dlib_model_path(name)
        assert p.is_file() and p.stat().st_size > 10_000
    with pytest.raises(FileNotFoundError, match="face-recognition-models"):
        dlib_model_path("nope.dat")


def test_shipped_hog_detector_is_dlibs(tmp_path, demo):
    """The shipped file is, byte for byte, the detector this dlib builds, and detects the same."""
    import dlib

    from ferapp.detect.detectors import HOG_DETECTOR_FILE, load_hog_detector
    from ferapp.paths import resources_dir

    built = dlib.get_frontal_face_detector()
    built.save(str(tmp_path / "built.svm"))
    shipped = resources_dir() / "detectors" / HOG_DETECTOR_FILE
    assert shipped.read_bytes() == (tmp_path / "built.svm").read_bytes()
    loaded = load_hog_detector()
    gray = demo[0][:, :, 1].copy()
    a, b = built.run(gray, 1, -0.5), loaded.run(gray, 1, -0.5)
    assert len(a[0]) >= 1 and [str(r) for r in a[0]] == [str(r) for r in b[0]] and a[1:] == b[1:]


def test_hog_detector_is_read_from_file_not_rebuilt(monkeypatch, tmp_path):
    """dlib.get_frontal_face_detector() (~0.45 CPU-s each, GIL held) is called by no part of a
    finder's build (it used to be called twice: the finder's and its scan thread's detector);
    without the shipped file it is the fallback, and the detector still works."""
    import dlib

    from ferapp import paths

    calls = []
    real = dlib.get_frontal_face_detector
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: calls.append(1) or real())
    finder = FaceFinder("hog")
    try:
        assert calls == []
    finally:
        finder.close()
    frame = DemoSource(1, realtime=False).open().render(3)
    monkeypatch.setattr(paths, "resources_dir", lambda: tmp_path)  # no detectors/ there
    det = create_detector("hog")
    assert calls == [1]
    assert len(det.detect(frame)) == 1


@pytest.mark.parametrize("name", ["hog", "cnn", "haar"])
def test_every_detector_finds_the_demo_face(name, demo):
    image, (cx, cy, size, _) = demo
    det = create_detector(name)
    assert det.name == name
    faces = det.detect(image)
    assert len(faces) == 1, faces
    f = faces[0]
    assert isinstance(f, Face) and all(isinstance(v, int) for v in f.box)
    x, y, w, h = f.box
    assert abs(x + w / 2 - cx) < 0.3 * size and abs(y + h / 2 - cy) < 0.3 * size
    assert 0.6 * size < max(w, h) < 1.8 * size
    assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 480


def test_detectors_find_nothing_on_blank():
    blank = np.full((480, 640, 3), 127, np.uint8)
    for name in ("hog", "haar"):
        assert create_detector(name).detect(blank) == []


def test_hog_detects_two_faces_on_demo2():
    img = demo_frames(1, faces=2)[0]
    faces = create_detector("hog").detect(img)
    assert len(faces) == 2
    assert (
        faces[0].box[0] + faces[0].box[2] <= faces[1].box[0]
        or faces[1].box[0] + faces[1].box[2] <= faces[0].box[0]
    )


def test_landmarks_land_inside_the_box(demo, predictor):
    image, _ = demo
    face = create_detector("hog").detect(image)[0]
    lm = predictor.predict(image, face.box)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    x, y, w, h = face.box
    pad = 0.1 * w
    inside = (
        (lm[:, 0] >= x - pad) & (lm[:, 0] <= x + w + pad) & (lm[:, 1] >= y - pad) & (lm[:, 1] <= y + h + pad)
    )
    assert inside.mean() >= 0.95
    # anatomy: eyes above the nose tip above the mouth above the chin; left eye left of right
    eyes_y = lm[36:48, 1].mean()
    assert eyes_y < lm[30, 1] < lm[48:68, 1].mean() < lm[8, 1]
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()
    many = predictor.predict_many(image, [face.box, face.box])
    assert len(many) == 2 and np.allclose(many[0], lm)


def test_extract_face_color_gray_and_none():
    import cv2

    from ferapp.paths import demo_dir

    img = cv2.imread(str(demo_dir() / "astronaut.png"))
    crop = extract_face(img)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8
    gray = extract_face(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), out_size=(64, 64))
    assert gray.shape == (64, 64)
    assert extract_face(np.full((300, 300, 3), 90, np.uint8)) is None


def test_face_finder_one_stable_id_on_60_frames():
    frames = demo_frames(60)
    finder = FaceFinder("hog")
    results = [finder.find(f) for f in frames]
    found = sum(len(r) == 1 for r in results)
    assert found >= 0.95 * 60
    ids = {f.face_id for r in results for f in r}
    assert len(ids) == 1
    assert all(f.landmarks is not None and f.landmarks.shape == (68, 2) for r in results for f in r)
    # the shortcut was used: a handful of full scans, the rest followed by the landmark fit
    assert finder.stats["scans"] <= 4 and finder.stats["refits"] >= 55
    print("FaceFinder stats", finder.stats)


def test_face_finder_boxes_follow_the_moving_face():
    src = DemoSource(1, realtime=False).open()
    finder = FaceFinder()
    for i in range(0, 45):
        faces = finder.find(src.render(i))
        cx, cy, size, _ = src.truth(i)[0]
        assert len(faces) == 1
        x, y, w, h = faces[0].box
        assert abs(x + w / 2 - cx) < 0.25 * size and abs(y + h / 2 - cy) < 0.25 * size


def test_face_finder_two_faces_distinct_stable_ids():
    frames = demo_frames(40, faces=2)
    finder = FaceFinder()
    per_side: dict[str, set[int]] = {"left": set(), "right": set()}
    for f in frames:
        faces = finder.find(f)
        assert len(faces) == 2
        assert faces[0].face_id != faces[1].face_id
        for face in faces:
            side = "left" if face.box[0] + face.box[2] / 2 < 320 else "right"
            per_side[side].add(face.face_id)
    assert len(per_side["left"]) == 1 and len(per_side["right"]) == 1
    assert per_side["left"] != per_side["right"]


@pytest.mark.parametrize("faces,face_px", [(1, 54), (2, 60), (4, 64), (1, 44)])
def test_small_faces_are_found_and_followed(faces, face_px):
    """Faces well under HOG's native ~60 px (a person sitting back, several people at one camera)."""
    frames = small_face_frames(40, face_px=face_px, faces=faces)
    finder = FaceFinder("hog")  # default min_face
    results = [finder.find(f) for f in frames]
    assert sum(len(r) == faces for r in results) >= 0.95 * len(frames)
    assert len({f.face_id for r in results for f in r}) == faces
    assert all(0.6 * face_px < f.box[2] < 1.8 * face_px for r in results for f in r)


def test_min_face_is_a_setting_that_decides_what_is_found():
    frames = small_face_frames(3, face_px=54)
    assert FaceFinder("hog", min_face=40).find_still(frames[0])
    assert FaceFinder("hog", min_face=100).find_still(frames[0]) == []  # scanned at 0.6x: too small


@pytest.mark.parametrize(
    "size,face_px", [((480, 270), 44), ((1280, 720), 48), ((640, 480), 300), ((1280, 720), 600)]
)
def test_faces_from_small_to_frame_height_in_common_frame_sizes(size, face_px):
    frames = small_face_frames(2, face_px=face_px, size=size)
    faces = FaceFinder("hog", background=False).find_still(frames[0])
    assert len(faces) == 1
    assert 0.6 * face_px < faces[0].box[2] < 1.6 * face_px


def test_face_that_leaves_and_comes_back_keeps_its_id_and_no_stale_box():
    frames, visible = in_and_out_frames()
    finder = FaceFinder("hog")
    results = [finder.find(f) for f in frames]
    h, w = frames[0].shape[:2]
    for r, vis, img in zip(results, visible, frames, strict=True):
        if vis:
            continue
        for f in r:  # any box while sliding must lie on the visible part of the image
            x, y, bw, bh = f.box
            assert img[y : y + bh, x : x + bw].std() > 5, "box on the empty background"
    gone = [r for r, v, img in zip(results, visible, frames, strict=True) if (img == 128).all()]
    assert gone and all(r == [] for r in gone)
    back = [r for r, v in zip(results, visible, strict=True) if v]
    assert sum(len(r) == 1 for r in back) >= 0.9 * len(back)
    assert len({f.face_id for r in results for f in r}) == 1


def test_face_finder_drops_a_vanished_face_and_redetects():
    frames = demo_frames(4)
    finder = FaceFinder()
    assert len(finder.find(frames[0])) == 1
    assert len(finder.find(frames[1])) == 1  # refit frame
    assert finder.find(np.full_like(frames[0], 128)) == []  # gone: not a stale box
    again = finder.find(frames[2])
    assert len(again) == 1
    assert again[0].face_id == 0  # the tracker remembers it


def test_background_scan_is_deterministic_for_batch_analysis():
    frames = small_face_frames(45, face_px=60, faces=2)
    runs = []
    for _ in range(2):
        finder = FaceFinder("hog", deterministic=True, scan_every=10)
        runs.append([[(f.face_id, f.box) for f in finder.find(img)] for img in frames])
        finder.close()
    assert runs[0] == runs[1]


class _FlashDetector:
    """A detector that 'finds' a face on empty background once, and never again at that spot."""

    name = "flash"
    min_face = 40.0

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return [Face(box=(200, 150, 100, 100), score=1.0)] if self.calls == 2 else []

    def detect_region(self, image, box, context=0.5):
        return []


def test_a_one_off_false_detection_never_becomes_a_box():
    blank = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    finder = FaceFinder(_FlashDetector())
    assert all(finder.find(blank) == [] for _ in range(5))


def test_stills_are_detected_image_by_image():
    one = demo_frames(1)[0]
    two = demo_frames(1, faces=2)[0]
    finder = FaceFinder("hog")
    a = finder.find_still(two)
    b = finder.find_still(one)
    c = finder.find_still(np.full_like(one, 128))
    assert [f.face_id for f in a] == [0, 1] and a[0].box[0] < a[1].box[0]
    assert len(b) == 1 and b[0].face_id == 0
    assert c == []
    assert finder.tracked == 0  # nothing carried into the stream tracker


def test_face_finder_landmarks_off_and_full_and_reset():
    frames = demo_frames(3)
    finder = FaceFinder(landmarks=False)
    faces = finder.find(frames[0])
    assert len(faces) == 1 and faces[0].landmarks is None
    full = finder.find_full(frames[1])
    assert len(full) == 1 and full[0].face_id == faces[0].face_id
    finder.reset()
    assert finder.find(frames[2])[0].face_id == 0


def test_landmark_model_is_loaded_once_per_process(monkeypatch):
    """The 100 MB landmark model (~0.5 CPU-s, GIL held) is loaded once and shared by every
    finder (a new finder per detector switch used to load it again)."""
    import dlib

    from ferapp.detect import landmarks

    monkeypatch.setattr(landmarks, "_PREDICTORS", {})
    loads = []
    real = dlib.shape_predictor
    monkeypatch.setattr(dlib, "shape_predictor", lambda path: loads.append(path) or real(path))
    assert not landmarks.is_loaded()
    a, b = LandmarkPredictor(), LandmarkPredictor()
    finders = [FaceFinder("hog", background=False), FaceFinder("haar", background=False)]
    assert len(loads) == 1 and landmarks.is_loaded()
    assert a._sp is b._sp and all(f.predictor._sp is a._sp for f in finders)
