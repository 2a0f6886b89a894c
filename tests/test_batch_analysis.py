"""Issue 26.5: batch analysis of many recordings (``ferapp analyze FOLDER|LIST|PATHS --out-dir``):
what a batch is made of and how it is named, shards that partition it, resume, a failing file
or a killed worker that does not stop the batch, ``--jobs 2``, and Ctrl-C / SIGTERM that leave
no partial timeline under a final name. Tiny generated videos; nothing from ../shared."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ferapp.cli import main
from ferapp.inference.multi import BatchError, collect, needs_batch, parse_shard, shard
from ferapp.record.timeline import read_timeline, sidecar_path
from tests.media import write_image_folder, write_test_video

REPO = Path(__file__).resolve().parents[1]


def _touch(root: Path, *names: str) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def _summary(path: Path) -> dict[str, dict[str, str]]:
    """The batch summary by timeline path below the output folder."""
    with open(path, newline="", encoding="utf-8") as f:
        return {str(Path(r["timeline"]).relative_to(path.parent)): r for r in csv.DictReader(f)}


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


# ------------------------------------------------------------------------- what a batch is made of
def test_a_folder_is_named_per_recording_and_shards_partition_it(tmp_path):
    root = tmp_path / "study"
    _touch(
        root,
        "s1/a.mp4",
        "s2/a.mp4",
        "s2/b.MKV",
        "s2/p1.png",
        "s2/p2.jpg",
        "top.avi",
        "notes.pdf",
        ".hidden/c.mp4",
        "s3/photos/x.png",
    )
    recs = collect([str(root)])
    names = [r.name for r in recs]
    assert names == ["s1/a.mp4", "s2/a.mp4", "s2/b.MKV", "s2/stills", "s3/photos/stills", "top.avi"]
    assert [r.kind for r in recs] == ["video", "video", "video", "stills", "stills", "video"]
    assert recs[0].out(tmp_path / "o") == tmp_path / "o" / "s1" / "a.mp4.csv"  # two a.mp4 never collide
    for n in range(1, 8):
        parts = [shard(recs, k, n) for k in range(n)]
        flat = [r.name for p in parts for r in p]
        assert sorted(flat) == names and len(flat) == len(set(flat))  # each recording in exactly one shard
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1/0", "a/b", "-1/3", "2"):
        with pytest.raises(BatchError, match="--shard"):
            parse_shard(bad)


def test_photo_folders_stay_one_recording_and_lists_and_mixed_folders_are_batches(tmp_path):
    photos = tmp_path / "photos"
    _touch(photos, "a.png", "b.png", "sub/c.png")
    assert not needs_batch(str(photos))  # as it always was: one timeline of stills
    _touch(photos, "sub/clip.mp4")
    assert needs_batch(str(photos))
    lst = tmp_path / "list.txt"
    lst.write_text(f"# my study\n\n{photos / 'sub' / 'clip.mp4'}\nphotos\nmissing.mp4\n")
    recs = collect([str(lst)])
    assert needs_batch(str(lst))
    assert [(r.name, r.kind, r.missing) for r in recs] == [
        ("missing.mp4", "video", True),
        ("photos/stills", "stills", False),
        ("photos/sub/clip.mp4", "video", False),
        ("photos/sub/stills", "stills", False),
    ]
    # the same file twice (by another spelling) is analysed once; names equal but for case are refused
    assert len(collect([str(photos / "sub" / "clip.mp4"), f"file://{photos}/sub/clip.mp4"])) == 1
    _touch(photos, "sub/CLIP.mp4")
    with pytest.raises(BatchError, match="same timeline"):
        collect([str(photos)])
    for spec, msg in (
        ("demo", "has no end"),
        (str(tmp_path / "nope"), "not found"),
        (str(tmp_path / "nope.txt"), "Cannot read list"),
    ):
        with pytest.raises(BatchError, match=msg):
            collect([spec])


def test_cli_refuses_a_batch_without_out_dir_or_with_one_file_options(tmp_path, capsys):
    _touch(tmp_path / "v", "a.mp4", "b.mp4")
    for extra, msg in (
        ([], "give --out-dir"),
        (["--out", "x.csv"], "use --out-dir"),
        (["--out-dir", str(tmp_path / "o"), "--video-out", "x.mp4"], "not a batch"),
        (["--out-dir", str(tmp_path / "o"), "--shard", "2/2"], "must be below N"),
    ):
        assert main(["analyze", str(tmp_path / "v"), "--quiet", *extra]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------- running, resuming, a file that fails
def test_batch_resumes_isolates_a_bad_file_and_matches_single_runs(tmp_path, capsys):
    vids = tmp_path / "in"
    write_test_video(vids / "a.avi", 6)
    write_test_video(vids / "sub" / "b.avi", 8)
    write_image_folder(vids / "sub", 2, corrupt=0)
    (vids / "broken.mp4").write_bytes(b"\0" * 500)
    out = tmp_path / "out"
    argv = ["analyze", str(vids), "--model", "cc_lenet5", "--quiet", "--out-dir", str(out)]
    assert main(argv) == 1  # one recording failed; the batch went on
    s = _summary(out / "batch_summary.csv")
    assert {k: v["status"] for k, v in s.items()} == {
        "a.avi.csv": "ok",
        "broken.mp4.csv": "failed",
        "sub/b.avi.csv": "ok",
        "sub/stills.csv": "ok",
    }
    assert "Cannot open video" in s["broken.mp4.csv"]["note"]
    assert s["sub/b.avi.csv"]["frames"] == "8" and s["sub/stills.csv"]["frames"] == "2"
    assert _hidden(out) == []  # no lock, no temporary file left
    # a recording analysed in the batch (pipeline reused and reset) equals an analysis on its own
    single = tmp_path / "single.csv"
    assert (
        main(
            ["analyze", str(vids / "sub" / "b.avi"), "--model", "cc_lenet5", "--quiet", "--out", str(single)]
        )
        == 0
    )
    a, b = read_timeline(out / "sub" / "b.avi.csv"), read_timeline(single)
    for col in ("frame", "face_id", "x", "y", "w", "h"):
        assert np.array_equal(a.columns[col], b.columns[col]), col
    assert a.meta["finalized"] and a.meta["frames_read"] == 8 and a.meta["dominant"]
    # resume: complete timelines are skipped, a deleted one is redone, a torn one is not touched
    (out / "sub" / "b.avi.csv").unlink()
    (out / "a.avi.json").write_text(json.dumps({"finalized": False}))  # as if stopped while finishing
    capsys.readouterr()
    assert main(argv) == 1
    s = _summary(out / "batch_summary.csv")
    assert {k: v["status"] for k, v in s.items()} == {
        "a.avi.csv": "failed",
        "broken.mp4.csv": "failed",
        "sub/b.avi.csv": "ok",
        "sub/stills.csv": "done-before",
    }
    assert "not a complete timeline" in s["a.avi.csv"]["note"] and "--overwrite" in s["a.avi.csv"]["note"]
    assert json.loads((out / "a.avi.json").read_text()) == {"finalized": False}  # not replaced
    assert s["sub/stills.csv"]["frames"] == "2" and s["sub/stills.csv"]["dominant"]  # from the sidecar
    (vids / "broken.mp4").unlink()
    assert main(argv + ["--overwrite"]) == 0
    assert {v["status"] for v in _summary(out / "batch_summary.csv").values()} == {"ok"}
    assert read_timeline(out / "a.avi.csv").meta["finalized"] is True


# ------------------------------------------------------------------ worker processes and signals
def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")


def _videos(folder: Path, n: int, frames: int) -> list[Path]:
    return [write_test_video(folder / f"v{i}.avi", frames) for i in range(n)]


PART = re.compile(r"^\.(v\d\.avi)\.(\d+)-[0-9a-f]{8}\.part\.csv$")


def _wait_for_part(out: Path, proc: subprocess.Popen, timeout: float = 240) -> tuple[str, int]:
    """The first recording in progress: (its name, the pid of the process writing it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"batch ended before a recording was in progress:\n{proc.communicate()}")
        for p in out.glob(".*.part.csv") if out.is_dir() else ():
            m = PART.match(p.name)
            if m:
                return m.group(1), int(m.group(2))
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no recording started in time")


def _assert_only_complete_timelines(out: Path) -> None:
    for csv_path in out.glob("v*.avi.csv"):
        meta = json.loads(sidecar_path(csv_path).read_text())
        assert meta["finalized"] is True and not meta.get("interrupted"), csv_path
        assert len(read_timeline(csv_path)) == meta["rows"]
    assert _hidden(out) == []  # no temporary file or lock left, also by a killed worker


@pytest.mark.slow
def test_jobs_2_a_killed_worker_fails_one_recording_and_the_batch_goes_on(tmp_path):
    vids = tmp_path / "in"
    _videos(vids, 4, 90)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "ferapp",
        "analyze",
        str(vids),
        "--model",
        "cc_lenet5",
        "--quiet",
        "--out-dir",
        str(out),
        "--jobs",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        name, pid = _wait_for_part(out, proc)
        assert pid != proc.pid  # written by a worker process
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    s = _summary(out / "batch_summary.csv")
    assert s[f"{name}.csv"]["status"] == "failed" and "SIGKILL" in s[f"{name}.csv"]["note"]
    assert sorted(v["status"] for v in s.values()) == ["failed", "ok", "ok", "ok"]
    assert f"failed: {vids / name}" in stderr and "Traceback" not in stderr
    _assert_only_complete_timelines(out)  # the killed worker's temporary files were removed
    rerun = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    s = _summary(out / "batch_summary.csv")
    assert s[f"{name}.csv"]["status"] == "ok" and sorted(v["status"] for v in s.values()) == [
        "done-before",
        "done-before",
        "done-before",
        "ok",
    ]
    assert "1 analysed, 3 done before, 0 failed" in rerun.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig,jobs", [(signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_ctrl_c_or_sigterm_mid_batch_leaves_no_partial_timeline_and_resumes(tmp_path, sig, jobs):
    vids = tmp_path / "in"
    _videos(vids, 3, 90)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "ferapp",
        "analyze",
        str(vids),
        "--model",
        "cc_lenet5",
        "--quiet",
        "--out-dir",
        str(out),
        "--jobs",
        str(jobs),
    ]
    proc = subprocess.Popen(
        cmd,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_part(out, proc)
        os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C or a scheduler does: the whole process group
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    statuses = [v["status"] for v in _summary(out / "batch_summary.csv").values()]
    assert "interrupted" in statuses and set(statuses) <= {"ok", "interrupted", "not-started"}
    _assert_only_complete_timelines(out)
    rerun = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert {v["status"] for v in _summary(out / "batch_summary.csv").values()} <= {"ok", "done-before"}
    _assert_only_complete_timelines(out)
    assert len(list(out.glob("v*.avi.csv"))) == 3


def test_a_crash_while_a_batch_timeline_is_moved_into_place_is_redone(tmp_path, monkeypatch):
    """The sidecar is renamed before the CSV: a crash between the two leaves a finalised sidecar
    and no timeline, which the next run redoes ("stale"), never a timeline that looks complete."""
    from ferapp.inference.multi import output_state
    from ferapp.record.timeline import TimelineError, TimelineWriter

    out = tmp_path / "a.mp4.csv"
    w = TimelineWriter(out, {"model": "m"}, temp=True)
    assert output_state(out) == ("absent", None)  # nothing under the final names while it is written

    def crash():
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(w._claim, "commit", crash)
    with pytest.raises(TimelineError, match="Cannot finalise"):
        w.close()
    state, meta = output_state(out)
    assert state == "stale" and meta["finalized"] is True and not out.exists()
