"""Issue 27 (data safety, round 3), the output side: a lock that holds under contention, inputs
and user files that are never overwritten or deleted, files created without following links,
every output claimed before any is created, clear errors at the end of a run. Each test
reproduces the probe's case and failed on the code before the fix (main at 38d6c09)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ferapp.cli import main
from ferapp.record.output import OutputClaim, OutputError
from ferapp.record.timeline import TimelineWriter, read_timeline, sidecar_path
from tests.media import write_test_video

REPO = Path(__file__).resolve().parents[1]
DEMO = ["analyze", "demo", "--model", "cc_lenet5", "--quiet", "--max-frames", "3"]


def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------ 27.1: the lock under contention
CLAIMER = textwrap.dedent("""
    import os, sys, time
    from ferapp.record.output import OutputClaim, OutputError
    target, mark, n, deadline = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    got = overlaps = 0
    for _ in range(n):
        if time.time() > deadline:
            break
        try:
            claim = OutputClaim(target, ".csv", overwrite=True)
        except OutputError:
            continue  # held by another run: the clear refusal
        except OSError:
            overlaps += 1  # the old code: two owners racing on one .part file
            continue
        got += 1
        try:  # only one holder at a time may create the marker
            os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            overlaps += 1
        else:
            os.unlink(mark)
        claim.release()
    print(got, overlaps)
""")


def test_the_output_lock_excludes_under_contention(tmp_path):
    """4 processes x 400 claims of one output: no claim overlaps another holder (on the old
    code about a third did: the lock file was unlinked while another run had it open)."""
    target, mark = tmp_path / "s.csv", tmp_path / "holder"
    target.write_text("an existing timeline\n")
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    deadline = time.time() + 90  # a bound on the test, not a speed claim
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(target), str(mark), "400", str(deadline)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        results.append(tuple(int(v) for v in out.split()))
    claims, overlaps = sum(r[0] for r in results), sum(r[1] for r in results)
    assert claims >= 50, results  # the race was exercised
    assert overlaps == 0, f"{overlaps} of {claims} claims overlapped another holder"
    assert target.read_text() == "an existing timeline\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claimer.py", "s.csv"]  # no lock or temp left


def test_a_replacement_never_deletes_another_runs_part_file(tmp_path):
    """The probe's end of 27.1: run C deleted run B's replacement in progress as "stale" (the old
    name, s.part.csv) and B's recording was lost. Another run's files are never deleted."""
    out = tmp_path / "s.csv"
    out.write_text("old\n")
    others = [tmp_path / "s.part.csv", tmp_path / ".s.4242-0badc0de.part.csv"]  # old and new naming
    for p in others:
        p.write_text("rows of another run\n")
    with TimelineWriter(out, {"run": 2}, overwrite=True):
        pass
    assert all(p.read_text() == "rows of another run\n" for p in others)
    assert read_timeline(out).meta["run"] == 2


# --------------------------------------------------------------- 27.2: an input under another spelling
@pytest.mark.parametrize("spelling", ["file", "blank", "tilde", "hardlink"])
def test_an_input_is_never_overwritten_through_another_spelling(tmp_path, capsys, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    video = write_test_video(tmp_path / "in.mp4", 6)
    before = video.read_bytes()
    source, target = {
        "file": (f"file://{video}", str(video)),
        "blank": (" in.mp4", str(video)),
        "tilde": ("~/in.mp4", str(video)),
        "hardlink": (str(video), "link.mp4"),
    }[spelling]
    if spelling == "hardlink":
        os.link(video, tmp_path / "link.mp4")
    rc, _, err = _cli(
        [
            "analyze",
            source,
            "--model",
            "cc_lenet5",
            "--quiet",
            "--out",
            "c.csv",
            "--video-out",
            target,
            "--overwrite",
            "--max-frames",
            "2",
        ],
        capsys,
    )
    assert rc == 2 and "is the input" in err, err
    assert video.read_bytes() == before and not (tmp_path / "c.csv").exists()


# ----------------------------------------------------- 27.3: temporary names never hit a user's file
def test_a_replacement_never_deletes_an_input_or_a_user_file_named_like_a_temp(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip_part = write_test_video(tmp_path / "clip.part.mp4", 4)  # the input
    src_bytes = clip_part.read_bytes()
    (tmp_path / "clip.mp4").write_bytes(b"an older annotated video")
    rc, _, err = _cli(
        [
            "analyze",
            "clip.part.mp4",
            "--model",
            "cc_lenet5",
            "--quiet",
            "--out",
            "c5.csv",
            "--video-out",
            "clip.mp4",
            "--overwrite",
        ],
        capsys,
    )
    assert rc == 0, err
    assert clip_part.read_bytes() == src_bytes  # the old code deleted it as a "stale" .part
    assert (tmp_path / "clip.mp4").read_bytes() != b"an older annotated video"
    (tmp_path / "t.part.csv").write_text("the user's own file\n")
    assert _cli(DEMO + ["--out", "t.csv"], capsys)[0] == 0
    assert _cli(DEMO + ["--out", "t.csv", "--overwrite"], capsys)[0] == 0
    assert (tmp_path / "t.part.csv").read_text() == "the user's own file\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp or lock left


# ------------------------------------------------------ 27.6: no link followed, one mode for every file
def test_temporary_and_lock_files_never_follow_links(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for name in ("out.json.tmp", "out.csv.lock", "out.part.csv"):  # where the old code wrote
        (tmp_path / name).symlink_to(victim)
    assert _cli(DEMO + ["--out", str(tmp_path / "out.csv")], capsys)[0] == 0
    assert victim.read_text() == "keep me\n"
    assert json.loads(sidecar_path(tmp_path / "out.csv").read_text())["finalized"] is True
    # the lock file itself as a link: refused with a clear line, nothing written through it
    (tmp_path / ".new.csv.ferapp-lock").symlink_to(victim)
    rc, _, err = _cli(DEMO + ["--out", str(tmp_path / "new.csv")], capsys)
    assert rc != 0 and "symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "keep me\n" and not (tmp_path / "new.csv").exists()
    # an output that is a link is replaced (with --overwrite), its target never written
    (tmp_path / "linked.csv").symlink_to(victim)
    rc, _, err = _cli(DEMO + ["--out", str(tmp_path / "linked.csv")], capsys)
    assert rc == 2 and "already exists" in err
    assert _cli(DEMO + ["--out", str(tmp_path / "linked.csv"), "--overwrite"], capsys)[0] == 0
    assert victim.read_text() == "keep me\n" and not (tmp_path / "linked.csv").is_symlink()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_timeline_sidecar_and_events_get_one_mode_from_the_umask(tmp_path, umask):
    from ferapp.monitor.events import write_events_csv

    old = os.umask(umask)
    try:
        out = tmp_path / "t.csv"
        TimelineWriter(out, {}).close()
        write_events_csv(tmp_path / "t_events.csv", [])
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"t.csv": want, "t.json": want, "t_events.csv": want}


# -------------------------------------------------------- 27.8: every output claimed before any exists
def test_a_refused_output_leaves_no_empty_video_behind(tmp_path, capsys):
    (tmp_path / "taken.csv").write_text("someone's timeline\n")
    mp4 = tmp_path / "new.mp4"
    rc, _, err = _cli(DEMO + ["--out", str(tmp_path / "taken.csv"), "--video-out", str(mp4)], capsys)
    assert rc == 2 and "already exists" in err
    assert not mp4.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["taken.csv"]
    rc, _, err = _cli(DEMO + ["--out", str(tmp_path / "free.csv"), "--video-out", str(mp4)], capsys)
    assert rc == 0, err  # the next run is not blocked by a 0-byte file
    assert mp4.stat().st_size > 0


def test_claims_create_nothing_and_abort_removes_only_their_own_files(tmp_path):
    c = OutputClaim(tmp_path / "v.mp4", ".mp4", private_dir=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".v.mp4.ferapp-lock"]
    inner = c.private_path()
    inner.write_bytes(b"half a video")
    assert stat.S_IMODE(inner.parent.stat().st_mode) == 0o700
    c.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="must be a .mp4"):
        OutputClaim(tmp_path / "v.avi", ".mp4")


# -------------------------------------------------------------- 27.14: errors while finishing a run
def test_output_folder_removed_mid_run_is_one_clear_line(tmp_path, capsys, monkeypatch):
    import shutil

    from ferapp.inference.pipeline import Pipeline

    folder = tmp_path / "results"
    real = Pipeline.stream  # what ferapp analyze runs its frames through

    def stream(self, frames, *args, **kwargs):
        for n, result in enumerate(real(self, frames, *args, **kwargs)):
            if n == 2:
                shutil.rmtree(folder)
            yield result

    monkeypatch.setattr(Pipeline, "stream", stream)
    rc, _, err = _cli(
        [
            "analyze",
            "demo",
            "--model",
            "cc_lenet5",
            "--quiet",
            "--max-frames",
            "6",
            "--out",
            str(folder / "t.csv"),
        ],
        capsys,
    )
    errors = [line for line in err.splitlines() if not line.startswith("warning: model")]
    assert rc == 3 and "Traceback" not in err and len(errors) == 1, err
    assert errors[0].startswith("error: Cannot finalise timeline") and "folder was removed" in errors[0]


# ---------------------------------------------------------------------------- 27.15: smaller ones
def test_a_truncated_video_is_analysed_with_a_warning(tmp_path, capsys):
    full = write_test_video(tmp_path / "full.avi", 40)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])  # the header still says 40 frames
    out = tmp_path / "t.csv"
    rc, _, err = _cli(["analyze", str(cut), "--model", "cc_lenet5", "--quiet", "--out", str(out)], capsys)
    assert rc == 0 and "warning: only" in err and "of the 40 frames" in err and "truncated" in err
    assert "truncated" in read_timeline(out).meta["warnings"][0]
    rc, _, err = _cli(
        ["analyze", str(full), "--model", "cc_lenet5", "--quiet", "--out", str(tmp_path / "u.csv")], capsys
    )
    assert rc == 0 and "truncated" not in err


def test_no_face_hint_on_4k_frames_names_the_real_smallest_face():
    from ferapp.detect import create_detector
    from ferapp.inference.analyze import AnalyzeSummary, no_face_hint

    det = create_detector("hog", min_face=40)
    s = AnalyzeSummary(frames=5, processed=5, frame_size=(3840, 2160))
    hint = no_face_hint(s, 40, det)
    smallest = det.effective_min_face(3840, 2160)
    assert smallest > 80 and f"{smallest:.0f} px" in hint
    assert "--min-face 20" not in hint and "does not help" in hint  # the old hint suggested 20
    s.frame_size = (640, 480)  # where a smaller --min-face does help, it is still suggested
    assert "--min-face 20" in no_face_hint(s, 40, det)


def test_no_face_hint_from_the_cli_on_a_4k_photo(tmp_path, capsys):
    import cv2

    photo = tmp_path / "wall.png"
    cv2.imwrite(str(photo), np.full((2160, 3840, 3), 90, np.uint8))
    rc, _, err = _cli(
        ["analyze", str(photo), "--model", "cc_lenet5", "--quiet", "--out", str(tmp_path / "t.csv")], capsys
    )
    assert rc == 0 and "no face found" in err and "86 px" in err and "--min-face 20" not in err
