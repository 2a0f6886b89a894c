"""Real footage (../shared/videos, CC BY 4.0) and real faces through the live path.

Fails (not skips) under FERAPP_REQUIRE_DATA=1 when the clips are missing."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ferapp.capture import open_source
from ferapp.inference.analyze import analyze
from ferapp.inference.pipeline import Pipeline

pytestmark = pytest.mark.realdata
REPO = Path(__file__).resolve().parents[1]
MKV = ["book", "eat", "hungry", "learn", "night", "school", "sister", "walk", "want"]
GIFS = ["classroom", "face-demographics-walking", "face-demographics-walking-and-pause"]


def videos_dir() -> Path:
    env = os.environ.get("FERAPP_VIDEOS_DIR")
    return Path(env) if env else REPO.parent / "shared" / "videos"


def clip(name: str, ext: str) -> Path:
    p = videos_dir() / f"{name}.{ext}"
    if not p.exists():
        if os.environ.get("FERAPP_REQUIRE_DATA") == "1":
            pytest.fail(f"real clip missing: {p}")
        pytest.skip(f"real clip missing: {p}")
    return p


class _Rows:
    def __init__(self):
        self.per_frame: list[int] = []
        self.ids: set[int] = set()

    def write(self, result) -> None:
        self.per_frame.append(len(result.faces))
        self.ids |= {f.face.face_id for f in result.faces}


def run_clip(path: Path, **pipe_kw):
    rows = _Rows()
    pipe = Pipeline(classify=False, **pipe_kw)  # default detector settings; detection does not need a model
    src = open_source(str(path))
    t0 = time.perf_counter()
    try:
        summary = analyze(src, pipe, rows)
    finally:
        src.close()
        pipe.close()
    return summary, rows, time.perf_counter() - t0


@pytest.mark.parametrize("name", MKV)
def test_every_webcam_clip_has_its_face_in_95_percent_of_frames_and_one_id(name):
    summary, rows, wall = run_clip(clip(name, "mkv"))
    share = summary.frames_with_face / summary.processed
    print(
        f"{name}.mkv: face in {summary.frames_with_face}/{summary.processed} frames ({share:.1%}), "
        f"ids {sorted(rows.ids)}, {summary.processed / wall:.0f} fps"
    )
    assert summary.processed >= 40
    assert share >= 0.95
    assert len(rows.ids) == 1
    assert max(rows.per_frame) == 1  # never a second box (on a hand, on the background)


def test_gifs_are_measured():
    """Small faces (classroom: five seated people, faces 15-25 px; walking: two people whose
    faces grow to ~40 px): figures at the default min_face and at min_face 16, printed."""
    for name in GIFS:
        for mf in (None, 16):
            kw = {} if mf is None else {"min_face": mf}
            summary, rows, wall = run_clip(clip(name, "gif"), **kw)
            print(
                f"{name}.gif min_face {mf or 'default'}: face in {summary.frames_with_face}/{summary.processed} "
                f"frames, at most {max(rows.per_frame)} per frame, {len(rows.ids)} ids, "
                f"{1000 * wall / max(1, summary.processed):.0f} ms/frame"
            )
            if name == "face-demographics-walking-and-pause" and mf is None:
                assert summary.frames_with_face >= 0.8 * summary.processed and len(rows.ids) <= 3


def test_cli_analyze_on_a_real_clip_finds_the_face(tmp_path, capsys):
    from ferapp.cli import main
    from ferapp.record import read_timeline

    out = tmp_path / "book.csv"
    rc = main(["analyze", str(clip("book", "mkv")), "--quiet", "--out", str(out)])
    text = capsys.readouterr()
    assert rc == 0, text.err
    assert "no face found" not in text.err
    tl = read_timeline(out)
    assert len(tl) >= 0.95 * 109 and len(tl.face_ids()) == 1


def test_fer2013_faces_through_the_live_path_match_direct_classification(fer2013_csv):
    """PublicTest faces upscaled 4x into a frame -> detect -> landmarks -> align -> classify, against
    the same faces classified directly (on the faces the live detector finds): within 1.5 points."""
    sys.path.insert(0, str(REPO))
    from ferapp.data import load_dataset
    from training.measure_framing import live_path_predictions

    ds = load_dataset(str(fer2013_csv))
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")
    live, direct = live_path_predictions(None, ds.images[pub])
    y = ds.labels[pub]
    found = live >= 0
    a_live = float((live[found] == y[found]).mean())
    a_direct = float((direct[found] == y[found]).mean())
    print(
        f"live path: face found in {found.mean():.1%} of {len(pub)} PublicTest faces; accuracy on those "
        f"{100 * a_live:.2f}% live vs {100 * a_direct:.2f}% direct ({100 * (a_live - a_direct):+.2f} points)"
    )
    assert found.mean() > 0.75
    assert abs(a_live - a_direct) <= 0.015
