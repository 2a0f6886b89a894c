"""Frame sources: spec parsing, webcam failure, video, image, folder, demo."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media import demo_frames, write_image_folder, write_test_video

from ferapp.capture import (
    DemoSource,
    FolderSource,
    ImageSource,
    SourceError,
    VideoFileSource,
    WebcamSource,
    list_cameras,
    open_source,
    parse_source_spec,
    resources_dir,
)
from ferapp.detect import create_detector


# -- spec parsing ------------------------------------------------------------------------
def test_parse_spec_kinds(tmp_path):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    vid = tmp_path / "v.mp4"
    vid.write_bytes(b"x")
    assert parse_source_spec("0") == ("webcam", 0)
    assert parse_source_spec(" 1 ") == ("webcam", 1)
    assert parse_source_spec("demo") == ("demo", 1)
    assert parse_source_spec("demo:2") == ("demo", 2)
    assert parse_source_spec("demo:4") == ("demo", 4)
    assert parse_source_spec(str(tmp_path)) == ("folder", tmp_path)
    assert parse_source_spec(str(img)) == ("image", img)
    assert parse_source_spec(str(vid)) == ("video", vid)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "No source"),
        ("   ", "No source"),
        ("demo:3", "demo supports"),
        ("missing_clip.mp4", "Cannot open video 'missing_clip.mp4': file not found"),
        ("missing.png", "Cannot open image 'missing.png': file not found"),
        ("a\x00b", "Cannot open"),
        ("x" * 5000, "Cannot open"),
    ],
)
def test_parse_spec_errors(spec, message):
    with pytest.raises(SourceError) as e:
        parse_source_spec(spec)
    assert message in str(e.value)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_parse_spec_only_raises_source_error(spec):
    try:
        kind, _ = parse_source_spec(spec)
    except (SourceError, ValueError):
        return
    assert kind in {"webcam", "demo", "folder", "image", "video", "stream"}


# -- webcam ------------------------------------------------------------------------------
def test_webcam_bad_index_is_source_error():
    with pytest.raises(SourceError, match="No camera at index 97"):
        open_source("97")
    src = WebcamSource(97)
    with pytest.raises(SourceError, match="No camera at index 97"):
        src.open()
    assert not src.is_open


def test_list_cameras_probes_without_crashing():
    cams = list_cameras(max_index=2)
    assert isinstance(cams, list)
    assert all(isinstance(i, int) and 0 <= i < 2 for i in cams)


# -- video file --------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_video_file_fps_and_timestamps(tmp_path, ext):
    path = write_test_video(tmp_path / f"clip{ext}", 12, fps=25)
    with open_source(str(path)) as src:
        assert isinstance(src, VideoFileSource)
        assert src.fps == pytest.approx(25.0)
        assert not src.is_live
        frames = list(src)
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 25 for i in range(12)])
    assert frames[0].image.shape == (480, 640, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].wall_time > 1e9
    assert not src.is_open


def test_video_not_a_video(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, not a video")
    with pytest.raises(SourceError, match="not a video or image"):
        open_source(str(p))


# -- image / folder ----------------------------------------------------------------------
def test_image_source_single_frame_gray_to_bgr(tmp_path):
    p = tmp_path / "face.png"
    gray = cv2.cvtColor(demo_frames(1)[0], cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(p), gray)
    src = open_source(str(p))
    assert isinstance(src, ImageSource)
    f = src.read()
    assert f.image.shape == (480, 640, 3) and f.name == "face.png" and f.index == 0
    assert src.read() is None
    src.close()


def test_corrupt_image_file_is_source_error(tmp_path):
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"garbage" * 10)
    with pytest.raises(SourceError, match="broken.jpg"):
        open_source(str(p))


def test_folder_skips_corrupt_and_non_images(tmp_path, caplog):
    folder = write_image_folder(tmp_path / "imgs", 3, corrupt=1)
    (folder / "readme.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="ferapp.capture.sources"):
        with open_source(str(folder)) as src:
            assert isinstance(src, FolderSource)
            frames = list(src)
            skipped = dict(src.skipped)
    assert [f.name for f in frames] == ["img_000.png", "img_001.png", "img_002.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert "broken_0.jpg" in skipped and "corrupt" in skipped["broken_0.jpg"]
    assert "readme.txt" in skipped
    assert any("broken_0.jpg" in r.getMessage() for r in caplog.records)


def test_empty_folder_is_source_error(tmp_path):
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))


def test_read_after_close_is_source_error(tmp_path):
    src = open_source("demo", realtime=False, max_frames=2)
    src.close()
    with pytest.raises(SourceError):
        src.read()


# -- demo --------------------------------------------------------------------------------
def test_resources_dir_has_demo_media():
    assert (resources_dir() / "demo" / "astronaut.png").is_file()
    assert (resources_dir() / "demo" / "LICENSE.md").is_file()


@pytest.mark.parametrize("faces", [1, 2, 4])
def test_demo_source_faces(faces):
    with open_source(f"demo:{faces}" if faces > 1 else "demo", realtime=False, max_frames=5) as src:
        assert isinstance(src, DemoSource) and src.fps == 30.0 and not src.is_live
        frames = list(src)
        truth = src.truth(0)
    assert len(frames) == 5 and len(truth) == faces
    assert all(f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [f.timestamp for f in frames] == pytest.approx([i / 30 for i in range(5)])
    assert not np.array_equal(frames[0].image, frames[4].image)  # it moves
    # real faces: the full-resolution HOG detector finds one per tile
    found = create_detector("hog").detect(frames[0].image)
    assert len(found) == faces
    for cx, cy, size, _ in truth:
        assert any(
            abs(f.box[0] + f.box[2] / 2 - cx) < 0.3 * size and abs(f.box[1] + f.box[3] / 2 - cy) < 0.3 * size
            for f in found
        )


def test_demo_image_is_read_by_the_one_image_reader(tmp_path, monkeypatch):
    """The demo portrait goes through safeio.read_image: a corrupt file says why, not "missing"."""
    import ferapp.capture.demo as demo

    (tmp_path / "bad.png").write_bytes(b"garbage" * 10)
    monkeypatch.setattr(demo, "demo_dir", lambda: tmp_path)
    with pytest.raises(SourceError, match="bad.png: unreadable or corrupt"):
        DemoSource(image="bad.png").open()
    with pytest.raises(SourceError, match="nope.png: unreadable"):
        DemoSource(image="nope.png").open()


def test_demo_deterministic_and_seeded():
    a, b = demo_frames(3, seed=1), demo_frames(3, seed=1)
    c = demo_frames(3, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))
    assert not np.array_equal(a[2], c[2])


def test_demo_motion_has_roll_and_translation():
    src = DemoSource(1, realtime=False).open()
    truth = [src.truth(i) for i in range(0, 300, 5)]
    rolls = [t[0][3] for t in truth]
    xs = [t[0][0] for t in truth]
    assert max(rolls) - min(rolls) > 6 and max(abs(r) for r in rolls) <= 8.0
    assert max(xs) - min(xs) > 20


def test_demo_realtime_is_live_and_endless():
    src = DemoSource(1, realtime=True, max_frames=None).open()
    assert src.is_live
    f0, f1 = src.read(), src.read()
    assert f1.index == 1 and f1.wall_time >= f0.wall_time
    src.close()
