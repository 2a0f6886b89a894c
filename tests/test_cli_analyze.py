"""`ferapp analyze` end to end on generated media (demo frames written to files)."""

from __future__ import annotations

import numpy as np
import pytest

from ferapp.cli import main
from ferapp.record.timeline import TIMELINE_COLUMNS, read_timeline
from tests.media import write_image_folder, write_test_video


def test_analyze_demo_stable_face(tmp_path, capsys):
    out = tmp_path / "t.csv"
    rc = main(
        ["analyze", "demo", "--max-frames", "150", "--out", str(out), "--model", "cc_lenet5", "--quiet"]
    )
    assert rc == 0
    tl = read_timeline(out)
    assert tuple(tl.columns)[: len(TIMELINE_COLUMNS)] == TIMELINE_COLUMNS
    frames_with_face = len(set(tl.columns["frame"].tolist()))
    assert frames_with_face >= 0.95 * 150
    assert len(tl.face_ids()) == 1
    assert tl.meta["finalized"] and tl.meta["detector"] == "hog"
    assert np.allclose(tl.probs.sum(axis=1), 1.0, atol=1e-3)
    text = capsys.readouterr().out
    assert "frames with a face" in text and "expression share" in text


def test_analyze_two_faces_video(tmp_path):
    video = tmp_path / "two.avi"
    write_test_video(video, 60, fps=30, faces=2)
    out = tmp_path / "two.csv"
    rc = main(["analyze", str(video), "--out", str(out), "--model", "cc_lenet5", "--quiet"])
    assert rc == 0
    tl = read_timeline(out)
    ids = tl.face_ids()
    assert len(ids) == 2
    # each id stays on its own side of the frame
    for fid in ids:
        xs = tl.for_face(fid).columns["x"]
        assert xs.max() - xs.min() < 200


def test_analyze_folder_with_corrupt_file(tmp_path, capsys):
    folder = tmp_path / "imgs"
    write_image_folder(folder, 5, corrupt=1)
    out = tmp_path / "f.csv"
    rc = main(["analyze", str(folder), "--out", str(out), "--model", "cc_lenet5", "--quiet"])
    assert rc == 0
    assert "skipped" in capsys.readouterr().out
    tl = read_timeline(out)
    assert len(tl) >= 4
    assert all(str(s).endswith((".png", ".jpg")) for s in tl.columns["source"])


@pytest.mark.parametrize(
    "args,msg",
    [
        (["analyze", "/nonexistent/video.mp4"], "not found"),
        (["analyze", "demo", "--model", "no_such_model"], "unknown model"),
    ],
)
def test_analyze_bad_input(tmp_path, capsys, args, msg):
    rc = main([*args, "--out", str(tmp_path / "x.csv"), "--quiet"])
    assert rc != 0
    assert msg in capsys.readouterr().err.lower()


def test_analyze_unreadable_video(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    rc = main(["analyze", str(bad), "--out", str(tmp_path / "x.csv"), "--quiet"])
    assert rc != 0
    assert "error" in capsys.readouterr().err.lower()


def test_models_command(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "cc_lenet5" in out and "resnet20" in out and "bdnn4" in out
    # every shipped model with its PrivateTest accuracy from its card, one readable line each
    from ferapp.zoo.store import list_trained_models

    for e in list_trained_models():
        if e.shipped:
            line = next(ln for ln in out.splitlines() if f" {e.name} " in ln)
            assert f"acc {100 * e.meta['privatetest_acc']:.2f}% FER2013 PrivateTest" in line, line
    assert "{'name'" not in out


def test_analyze_driver_mode(tmp_path, capsys):
    out = tmp_path / "d.csv"
    rc = main(
        [
            "analyze",
            "demo",
            "--driver",
            "--max-frames",
            "60",
            "--out",
            str(out),
            "--model",
            "cc_lenet5",
            "--quiet",
        ]
    )
    assert rc == 0
    tl = read_timeline(out)
    for c in ("ear", "mar", "yaw", "pitch", "roll", "perclos", "event"):
        assert c in tl.columns
    ear = tl.columns["ear"]
    assert np.nanmin(ear) > 0.1 and np.nanmax(ear) < 0.5
    assert (tmp_path / "d_events.csv").exists()
    assert "driver events" in capsys.readouterr().out
