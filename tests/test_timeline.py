"""Timeline writer/reader round trip, durability and recovery."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ferapp.labels import LABELS
from ferapp.record.timeline import (
    TIMELINE_COLUMNS,
    TimelineError,
    TimelineWriter,
    read_timeline,
    sidecar_path,
    write_rows_csv,
)
from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult


def make_result(i: int, n_faces: int = 2, extras=None) -> FrameResult:
    img = np.zeros((4, 4, 3), np.uint8)
    frame = Frame(img, index=i, timestamp=i / 30.0, wall_time=1000.0 + i / 30.0)
    faces = []
    for k in range(n_faces):
        p = np.full(7, 0.02, np.float32)
        p[(i + k) % 7] = 0.88
        faces.append(FaceResult(Face((10 * k, 5, 20, 22), face_id=k), Expression(p), dict(extras or {})))
    return FrameResult(frame, tuple(faces), model="m1", detector="hog", source="demo")


def test_columns_exact():
    assert TIMELINE_COLUMNS[:12] == (
        "time_s",
        "timestamp",
        "frame",
        "source",
        "face_id",
        "x",
        "y",
        "w",
        "h",
        "model",
        "label",
        "confidence",
    )
    assert TIMELINE_COLUMNS[12:] == tuple(f"p_{c}" for c in LABELS)


def test_round_trip(tmp_path):
    path = tmp_path / "t.csv"
    with TimelineWriter(path, {"model": "m1", "fps": 30}) as w:
        for i in range(10):
            w.write(make_result(i))
    tl = read_timeline(path)
    assert len(tl) == 20
    assert not tl.recovered
    assert tl.meta["finalized"] is True and tl.meta["rows"] == 20 and tl.meta["model"] == "m1"
    assert tl.face_ids() == [0, 1]
    assert tl.columns["frame"].dtype.kind == "i"
    assert np.allclose(tl.probs.sum(axis=1), 0.02 * 6 + 0.88, atol=1e-3)
    assert tl.columns["label"][0] == LABELS[0] and tl.columns["label"][1] == LABELS[1]
    assert tl.columns["time_s"][-1] == pytest.approx(9 / 30.0, abs=1e-3)
    one = tl.for_face(1)
    assert len(one) == 10
    s = tl.summary(segment_s=0.1)
    assert abs(sum(s["share"].values()) - 1.0) < 1e-6 and s["segments"]
    out = tmp_path / "export.csv"
    write_rows_csv(out, tl)
    assert len(read_timeline(out)) == 20


def test_extra_columns(tmp_path):
    path = tmp_path / "d.csv"
    w = TimelineWriter(path, {}, extra_columns=("ear", "event"))
    w.write(make_result(0, 1, extras={"ear": 0.31, "event": "drowsy"}))
    w.close()
    tl = read_timeline(path)
    assert tl.columns["ear"][0] == pytest.approx(0.31)
    assert tl.columns["event"][0] == "drowsy"


def test_rows_visible_before_close_and_recovered(tmp_path):
    """Rows are flushed as written: a reader sees them while the writer is still open (crash case)."""
    path = tmp_path / "live.csv"
    w = TimelineWriter(path, {})
    for i in range(5):
        w.write(make_result(i, 1))
    tl = read_timeline(path)  # writer never closed, like after SIGKILL
    assert len(tl) == 5 and tl.recovered
    assert json.loads(sidecar_path(path).read_text())["finalized"] is False
    w.close()


def test_torn_last_line_and_missing_sidecar(tmp_path):
    path = tmp_path / "torn.csv"
    with TimelineWriter(path, {}) as w:
        for i in range(3):
            w.write(make_result(i, 1))
    sidecar_path(path).unlink()
    with open(path, "a") as f:
        f.write("0.5,100,7,demo,0,1,2")  # torn row without newline
    tl = read_timeline(path)
    assert len(tl) == 3 and tl.recovered and tl.warnings


@pytest.mark.parametrize("content", ["", "a,b,c\n1,2,3\n", "\x00\x01garbage"])
def test_foreign_files_clear_error(tmp_path, content):
    p = tmp_path / "x.csv"
    p.write_text(content)
    with pytest.raises(TimelineError):
        read_timeline(p)


def test_missing_file(tmp_path):
    with pytest.raises(TimelineError, match="not found"):
        read_timeline(tmp_path / "nope.csv")


def test_unwritable_folder_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TimelineError, match="Cannot write"):
        TimelineWriter(blocker / "sub" / "t.csv", {})


def test_fsync_interval(tmp_path, monkeypatch):
    calls = []
    import ferapp.record.timeline as tm

    monkeypatch.setattr(tm.os, "fsync", lambda fd: calls.append(fd))
    w = TimelineWriter(tmp_path / "f.csv", {}, fsync_interval_s=0.0)
    w.write(make_result(0, 1))
    w.write(make_result(1, 1))
    assert len(calls) >= 3  # sidecar + each write
    w.close()
    time.sleep(0)
