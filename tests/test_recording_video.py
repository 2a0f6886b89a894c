"""The annotated MP4 lasts as long as what it shows: media time for ``ferapp analyze`` (every
frame or every N-th), wall-clock time for a live recording fed by a paced source with a slow
model and a pause; and the sidecar run keys come from one function for both writers."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np

from ferapp.record.metadata import RUN_KEYS, run_metadata
from ferapp.record.recorder import Recorder
from ferapp.record.timeline import sidecar_path
from ferapp.record.video import AnnotatedVideoWriter
from ferapp.types import Face, FaceResult, Frame, FrameResult


def result_of(frame: Frame) -> FrameResult:
    return FrameResult(frame, (FaceResult(Face((200, 150, 120, 120), face_id=0), None),), "m", "hog", "demo")


def mp4_frames(path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n, fps


def test_media_clock_keeps_the_length_of_a_file_analysed_every_nth_frame(tmp_path):
    img = np.full((120, 160, 3), 90, np.uint8)
    for every in (1, 3):
        v = AnnotatedVideoWriter(tmp_path / f"every{every}.mp4", fps=30.0)
        for i in range(0, 30, every):  # a 1 s clip at 30 fps, every N-th frame processed
            v.write(result_of(Frame(img, i, i / 30.0, 1000.0 + i)))
        v.close()
        assert v.results == len(range(0, 30, every))
        assert mp4_frames(tmp_path / f"every{every}.mp4") == (30, 30.0)


def test_live_recording_lasts_as_long_as_the_recording_with_a_slow_model_and_a_pause(tmp_path):
    from ferapp.capture.demo import DemoSource

    src = DemoSource(1, realtime=True).open()  # paced at 30 fps, like a camera
    rec = Recorder()
    t_before = time.monotonic()
    csv_path = rec.start(
        tmp_path / "rec.csv",
        meta=run_metadata(source="demo", model="m", detector="hog", min_face=40, fps=src.fps),
        video=True,
        video_fps=src.fps,
    )
    t_after_start = time.monotonic()
    fed = 0
    try:
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:  # a model that keeps up with one frame in 5 (~6 fps)
            frame = src.read()
            if frame.index % 5 == 0:
                rec.write(result_of(frame))
                fed += 1
        pause_until = time.monotonic() + 0.6  # paused: no results at all
        while time.monotonic() < pause_until:
            src.read()
        frame = src.read()
        rec.write(result_of(frame))
        fed += 1
    finally:
        t_before_stop = time.monotonic()
        assert rec.stop() == csv_path
        t_after = time.monotonic()
        src.close()
    n, fps = mp4_frames(csv_path.with_suffix(".mp4"))
    assert fps == 30.0 and fed < n  # repeats fill the time between results
    # the file's duration is the recording's wall-clock duration (to the frame)
    assert t_before_stop - t_after_start - 1 / fps <= n / fps <= t_after - t_before + 1 / fps
    meta = json.loads(sidecar_path(csv_path).read_text())
    assert meta["fps"] == 30.0 and meta["frames"] == fed


def test_run_metadata_has_every_key_in_order():
    m = run_metadata(source="0", model="m", detector="cnn", min_face=24, fps=float("nan"), smoothing=0.5)
    assert tuple(m) == RUN_KEYS
    assert m["fps"] is None and m["min_face"] == 24.0 and m["driver"] is False and m["every"] == 1


def test_stop_fills_the_fps_unknown_at_the_start(tmp_path):
    rec = Recorder()
    path = rec.start(
        tmp_path / "r.csv", meta=run_metadata(source="0", model="m", detector="hog", min_face=40, fps=None)
    )
    rec.stop(fps=25.0, model="other")  # only keys that were unknown are filled
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["fps"] == 25.0 and meta["model"] == "m"
