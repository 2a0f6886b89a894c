"""Issue 16: never overwrite, interleave or corrupt a recording; never hang or blow up on hostile
input. One test per defect found by the probe (each failed on the code before the fix)."""

from __future__ import annotations

import gzip
import io
import json
import math
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ferapp.cli import main
from ferapp.record.timeline import TimelineError, TimelineWriter, read_timeline, sidecar_path
from tests.conftest import wait_until
from tests.media import write_test_video


def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


DEMO = ["analyze", "demo", "--model", "cc_lenet5", "--quiet", "--max-frames", "5"]


# ----------------------------------------------------------------------------- data loss
def test_out_must_be_a_csv_so_it_never_collides_with_its_sidecar(tmp_path, capsys):
    rc, _, err = _cli(DEMO + ["--out", str(tmp_path / "same.json")], capsys)
    assert rc == 2 and "must be a .csv file" in err
    assert not (tmp_path / "same.json").exists()


def test_an_input_is_never_overwritten(tmp_path, capsys):
    video = write_test_video(tmp_path / "victim.avi", 6)
    before = video.read_bytes()
    for out in (video, video.with_suffix(".csv")):
        rc, _, err = _cli(
            ["analyze", str(video), "--model", "cc_lenet5", "--quiet", "--out", str(out)], capsys
        )
        if out == video:
            assert rc == 2 and "must be a .csv file" in err
    assert video.read_bytes() == before
    csv_in = tmp_path / "input.csv"  # a .csv that *is* the input (a folder of images named .csv is odd,
    csv_in.write_text("keep me")  # but a model folder / checkpoint may sit anywhere): refused as input
    with pytest.raises(TimelineError, match="is the input"):
        TimelineWriter(csv_in, inputs=[str(csv_in)], overwrite=True)
    assert csv_in.read_text() == "keep me"


def test_an_existing_output_is_refused_unless_overwrite_replaces_it_atomically(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert _cli(DEMO + ["--out", str(out)], capsys)[0] == 0
    first = out.read_bytes()
    rc, _, err = _cli(DEMO + ["--out", str(out)], capsys)
    assert rc == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == first
    # --overwrite: while the new run writes, the old file is untouched; it is swapped in at the end
    w = TimelineWriter(out, {"second": True}, overwrite=True)
    part = w.writing_to  # a hidden name unique to the run: .s.<pid>-<random>.part.csv
    assert (
        out.read_bytes() == first and part.exists() and part.name.startswith(".s.") and part.suffix == ".csv"
    )
    w.close()
    assert not part.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.json"]
    assert json.loads(sidecar_path(out).read_text())["second"] is True
    assert _cli(DEMO + ["--out", str(out), "--overwrite"], capsys)[0] == 0


def test_two_writers_of_one_output_never_interleave(tmp_path):
    out = tmp_path / "s.csv"
    first = TimelineWriter(out, {"run": 1})
    with pytest.raises(TimelineError, match="already exists"):
        TimelineWriter(out, {"run": 2})
    with pytest.raises(TimelineError, match="being written by another ferapp run"):
        TimelineWriter(out, {"run": 2}, overwrite=True)
    first.close()
    assert json.loads(sidecar_path(out).read_text())["run"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.json"]  # the lock file is gone too


def test_concurrent_cli_runs_one_wins_the_other_gets_a_clear_error(tmp_path, capsys):
    """Run a in a child process, b here (in-process: the refusal is the same code, without a
    second interpreter's start-up) while a is still writing."""
    import subprocess
    import sys

    out = tmp_path / "s.csv"
    cmd = ["analyze", "demo", "--model", "cc_lenet5", "--quiet", "--out", str(out)]
    a = subprocess.Popen(
        [sys.executable, "-m", "ferapp", *cmd, "--max-frames", "150"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_until(lambda: out.exists() or a.poll() is not None, timeout=120)
        rc, _, err = _cli(cmd + ["--max-frames", "20"], capsys)
        a.wait(timeout=300)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 0 and rc == 2 and "already exists" in err
    tl = read_timeline(out)
    assert tl.meta["finalized"] and not tl.recovered and len(tl) >= 140  # only run a's rows, none torn


@pytest.mark.parametrize("value", ["1.5", "nan", "-0.1", "inf"])
def test_invalid_smoothing_is_refused(value, capsys):
    with pytest.raises(SystemExit) as e:
        main(DEMO + ["--smoothing", value])
    assert e.value.code == 2 and "--smoothing must be in [0, 1)" in capsys.readouterr().err


def _model_dir(tmp_path, **changes) -> Path:
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.registry import create_model

    m = create_model("cc_lenet5")
    d = tmp_path / "m"
    save_model_dir(d, m, m.cfg, {"trained": True})
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.mark.parametrize(
    "change,field",
    [
        ({"std": 0}, "std"),
        ({"input_size": [0, 0]}, "input_size"),
        ({"input_size": [1e5, 1e5]}, "input_size"),
        ({"input_size": "48x48"}, "input_size"),
        ({"channels": 1000}, "channels"),
        ({"labels": []}, "labels"),
        ({"mean": float("nan")}, "mean"),
    ],
)
def test_bad_model_configs_fail_at_load_naming_file_and_field(tmp_path, capsys, change, field):
    d = _model_dir(tmp_path, **change)
    out = tmp_path / "t.csv"
    rc, _, err = _cli(DEMO + ["--model", str(d), "--out", str(out)], capsys)
    assert rc == 2 and "config.json" in err and field in err and "Traceback" not in err
    assert not out.exists()  # failed before any frame or file


def _ensemble(root: Path, name: str, members: list[str], **extra) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"ensemble": members, "name": name, **extra}))
    return d


@pytest.mark.parametrize(
    "extra", [{"weights": [float("nan")]}, {"weights": [-1]}, {"weights": [1, 2]}, {"labels": []}]
)
def test_bad_ensemble_configs_are_refused(tmp_path, capsys, extra):
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.store import resolve_model

    member = _model_dir(tmp_path)
    d = _ensemble(tmp_path, "ens", [str(member)], **extra)
    with pytest.raises(CheckpointError, match="config.json"):
        resolve_model(str(d))


def test_model_output_that_is_not_a_distribution_stops_the_run(tmp_path, capsys, monkeypatch):
    import torch

    from ferapp.zoo.models.p1_lenet import CrossConnectedLeNet5

    monkeypatch.setattr(
        CrossConnectedLeNet5, "forward", lambda self, x: torch.full((x.shape[0], 7), float("nan"))
    )
    out = tmp_path / "t.csv"
    rc, _, err = _cli(DEMO + ["--out", str(out)], capsys)
    assert rc == 2 and "invalid probabilities" in err
    tl = read_timeline(out)
    assert len(tl) == 0 and tl.meta["finalized"]  # nothing invalid was written, the file is closed


# ------------------------------------------------------------------- hangs, crashes, exhaustion
@pytest.mark.parametrize("t", [1e300, float("inf"), -5.0, 1e12])
def test_timeline_summary_cost_does_not_depend_on_time_values(tmp_path, t):
    p = tmp_path / "t.csv"
    from ferapp.record.timeline import TIMELINE_COLUMNS

    rows = [
        ",".join(TIMELINE_COLUMNS),
        "0,1.0,0,s,0,1,1,5,5,m,happy,0.9," + ",".join(["0.1"] * 3 + ["0.4"] + ["0.1"] * 3),
        f"{t},2.0,1,s,0,1,1,5,5,m,sad,0.9," + ",".join(["0.1"] * 4 + ["0.4"] + ["0.1"] * 2),
    ]
    p.write_text("\n".join(rows) + "\n")
    start = time.process_time()
    s = read_timeline(p).summary()
    assert time.process_time() - start < 5  # a bound on a hang, not a speed claim
    assert s["rows"] == 2 and s["segments"] and math.isfinite(s["duration_s"])


def test_viewer_shows_a_timeline_without_probabilities(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from ferapp.gui.viewer import TimelineViewer
    from ferapp.record.timeline import TIMELINE_COLUMNS

    p = tmp_path / "t.csv"
    p.write_text(",".join(TIMELINE_COLUMNS) + "\n" + "0,1.0,0,s,0,1,1,5,5,m,,," + "," * 6 + "\n")
    v = TimelineViewer(p)
    qtbot.addWidget(v)
    assert v.segment_table.rowCount() == 1 and v.segment_table.item(0, 2).text() == "(no expression)"


def test_main_window_reports_a_viewer_failure_in_a_dialog(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from ferapp.gui import viewer as viewer_mod
    from ferapp.gui.main_window import MainWindow

    monkeypatch.setenv("FERAPP_RECORDINGS_DIR", str(tmp_path / "recordings"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    win = MainWindow(source="demo", model="cc_lenet5", cameras=[])
    qtbot.addWidget(win)
    monkeypatch.setattr(
        viewer_mod.TimelineViewer, "load", lambda self, path: (_ for _ in ()).throw(KeyError(""))
    )
    (tmp_path / "x.csv").write_text("x")
    assert win.open_timeline(tmp_path / "x.csv") is None
    assert win.last_dialog is not None and "Could not show" in win.last_dialog.text()
    win.close()


def test_zip_bomb_entry_is_never_read_into_memory(tmp_path, monkeypatch):
    from ferapp.data import sources
    from ferapp.data.folders import Options, read_image_folders

    monkeypatch.setattr(sources, "MAX_ENTRY_BYTES", 1 << 20)
    import ferapp.data.folders as folders

    monkeypatch.setattr(folders, "MAX_ENTRY_BYTES", 1 << 20)
    z = tmp_path / "bomb.zip"
    import cv2

    ok = cv2.imencode(".png", np.full((48, 48), 100, np.uint8))[1].tobytes()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("happy/ok.png", ok)
        zf.writestr("happy/bomb.png", b"\0" * (8 << 20))  # 8 MB of zeros: a few KB compressed
    src = sources.FileSource(z)
    assert src.read("happy/bomb.png") == b""
    ds = read_image_folders(src, Options())
    assert len(ds) == 1
    assert any("bomb.png" in w and "larger than" in r for w, r in ds.report.skipped)


def test_zip_entry_that_lies_about_its_size_is_cut_off(tmp_path, monkeypatch):
    from ferapp.data import sources

    z = tmp_path / "liar.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/x.png", b"\0" * 4096)
    src = sources.FileSource(z)
    info = src._zipfile().getinfo("a/x.png")
    info.file_size = 10  # the index claims 10 bytes
    assert src.read("a/x.png", limit=100) == b""  # stopped at the limit instead of trusting the index


def test_gzip_bomb_fer_csv_stops_with_a_clear_error(tmp_path, monkeypatch):
    from ferapp.data import fer2013
    from ferapp.data.sources import DatasetError

    monkeypatch.setattr(fer2013, "MAX_LINE", 1 << 16)
    p = tmp_path / "bomb.csv.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"emotion,pixels,Usage\n0,")
        f.write(b"1 " * (4 << 20))  # one 8 MB line
    with pytest.raises(DatasetError, match="longer than"):
        fer2013.parse_csv(p)


def test_ck_emotion_file_with_inf_or_huge_numbers_is_skipped(tmp_path):
    import cv2

    from ferapp.data import load_dataset

    root = tmp_path / "ck"
    for k, val in enumerate(["inf", "1e400", "nan", "3.0000000e+00"]):
        sid, seq = f"S{100 + k:03d}", "001"
        img_dir = root / "cohn-kanade-images" / sid / seq
        img_dir.mkdir(parents=True)
        for f in range(3):
            cv2.imwrite(str(img_dir / f"{sid}_{seq}_{f:08d}.png"), np.full((64, 64), 120, np.uint8))
        em = root / "Emotion" / sid / seq
        em.mkdir(parents=True)
        (em / f"{sid}_{seq}_00000002_emotion.txt").write_text(f"   {val}\n")
    ds_or_err = None
    try:
        ds_or_err = load_dataset(root, use_cache=False)
    except Exception as e:  # a clear DatasetError (no face in blank images) is fine
        assert "OverflowError" not in type(e).__name__, e
        return
    skipped = [r for _, r in ds_or_err.report.skipped]
    assert sum("not a number" in r for r in skipped) == 3


def test_broken_user_model_named_like_a_shipped_one_falls_back(tmp_path, monkeypatch, caplog):
    from ferapp.zoo.store import default_model_name, resolve_model, shipped_models_dir

    name = default_model_name()
    user = tmp_path / "user"
    monkeypatch.setenv("FERAPP_USER_MODELS_DIR", str(user))
    shutil.copytree(shipped_models_dir() / name, user / name)
    (user / name / "model.pt").write_bytes(b"not a torch file")
    with caplog.at_level("WARNING"):
        loaded = resolve_model(name)
    assert loaded.path == shipped_models_dir() / name
    assert "using the shipped model" in caplog.text


def test_nested_ensembles_are_bounded(tmp_path):
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.store import resolve_model

    member = _model_dir(tmp_path)
    loads = {"n": 0}
    import ferapp.zoo.io as zio

    orig = zio._build

    def counting(*a, **k):
        loads["n"] += 1
        return orig(*a, **k)

    zio._build = counting
    try:
        level = [str(member)] * 6
        for depth in range(4):
            d = _ensemble(tmp_path, f"e{depth}", level)
            level = [str(d)] * 6
        t0 = time.process_time()
        with pytest.raises(CheckpointError, match="member models|deeper"):
            resolve_model(str(tmp_path / "e3"))
        assert time.process_time() - t0 < 30
    finally:
        zio._build = orig
    assert loads["n"] <= 32


# ------------------------------------------------------------------------------ clear errors
def test_image_folder_with_a_non_utf8_file_name_names_the_file(tmp_path):
    import os

    import cv2

    from ferapp.data import load_dataset

    d = tmp_path / "faces" / "happy"
    d.mkdir(parents=True)
    ok, png = cv2.imencode(".png", np.full((48, 48), 100, np.uint8))
    for i in range(3):
        (d / f"f{i}.png").write_bytes(png.tobytes())
    bad = os.fsencode(str(d)) + b"/caf\xe9.png"
    with open(bad, "wb") as f:
        f.write(png.tobytes())
    ds = load_dataset(tmp_path / "faces", use_cache=False)
    assert len(ds) == 4  # the oddly named file is read like any other
    assert any("caf" in p for p in ds.paths)


def test_unreadable_subfolder_is_reported_not_skipped_silently(tmp_path, monkeypatch):
    import os

    import cv2

    from ferapp.data import load_dataset

    for cls in ("happy", "sad"):
        d = tmp_path / "faces" / cls
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "a.png"), np.full((48, 48), 100, np.uint8))
    real = os.scandir
    locked = str(tmp_path / "faces" / "sad")

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root ignores chmod 000: simulate the denial
    ds = load_dataset(tmp_path / "faces", use_cache=False)
    assert any("sad" in w and "Permission denied" in r for w, r in ds.report.skipped)


def test_unreadable_fer_csv_says_permission_denied(tmp_path, monkeypatch):
    import builtins

    from ferapp.data import detect_format
    from ferapp.data.sources import DatasetError

    p = tmp_path / "fer2013.csv"
    p.write_text("emotion,pixels,Usage\n")
    real_open = builtins.open

    def deny(file, *a, **k):
        if str(file) == str(p):
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(DatasetError, match="Permission denied"):
        detect_format(p)


def test_timeline_saved_with_a_bom_loads(tmp_path):
    from ferapp.record.timeline import TIMELINE_COLUMNS

    p = tmp_path / "excel.csv"
    p.write_bytes(
        b"\xef\xbb\xbf"
        + (
            ",".join(TIMELINE_COLUMNS)
            + "\n0,1,0,s,0,1,1,5,5,m,happy,0.9,"
            + ",".join(["0.1"] * 3 + ["0.4"] + ["0.1"] * 3)
            + "\n"
        ).encode()
    )
    assert len(read_timeline(p)) == 1


def test_weights_only_refusal_does_not_advise_unsafe_loading(tmp_path):
    import torch

    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.io import load_checkpoint

    p = tmp_path / "evil.pt"
    torch.save({"obj": io.BytesIO(b"x")}, p)  # a pickled object of a non-allowed class
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert "weights_only=False" not in str(e.value)


def test_train_save_and_resume_problems_surface_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FERAPP_USER_MODELS_DIR", str(tmp_path / "user"))
    (tmp_path / "user" / "taken").mkdir(parents=True)
    data = tmp_path / "nodata"  # never read: the checks come first
    rc, _, err = _cli(["train", "--model", "cc_lenet5", "--data", str(data), "--save", "taken"], capsys)
    assert rc == 2 and "already exists" in err
    rc, _, err = _cli(["train", "--model", "cc_lenet5", "--data", str(data), "--save", "../x"], capsys)
    assert rc == 2 and "invalid model name" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    rc, _, err = _cli(["train", "--model", "cc_lenet5", "--data", str(data), "--resume", str(bad)], capsys)
    assert rc == 2 and "--resume" in err and "Traceback" not in err


def test_ctrl_c_while_importing_prints_no_traceback(capsys, monkeypatch):
    import ferapp.cli as cli

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["analyze", "demo"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_analyze_video_out_writes_the_annotated_mp4_under_the_same_rules(tmp_path, capsys):
    import cv2

    video = write_test_video(tmp_path / "in.avi", 12)
    out, mp4 = tmp_path / "t.csv", tmp_path / "t.mp4"
    argv = [
        "analyze",
        str(video),
        "--model",
        "cc_lenet5",
        "--quiet",
        "--out",
        str(out),
        "--video-out",
        str(mp4),
    ]
    assert _cli(argv, capsys)[0] == 0
    cap = cv2.VideoCapture(str(mp4))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 12
    rc, _, err = _cli(argv[:-4] + ["--out", str(tmp_path / "u.csv"), "--video-out", str(mp4)], capsys)
    assert rc == 2 and "already exists" in err and not (tmp_path / "u.csv").exists()
    rc, _, err = _cli(argv[:-2] + ["--video-out", str(video)], capsys)
    assert rc == 2 and "must be a .mp4 file" in err
    assert _cli(argv + ["--overwrite"], capsys)[0] == 0


def test_gui_recorder_refuses_an_existing_mp4_and_creates_nothing(tmp_path):
    from ferapp.record.recorder import Recorder

    (tmp_path / "rec.mp4").write_bytes(b"someone's video")
    r = Recorder()
    with pytest.raises(TimelineError, match="already exists"):
        r.start(tmp_path / "rec.csv", video=True)
    assert not (tmp_path / "rec.csv").exists() and (tmp_path / "rec.mp4").read_bytes() == b"someone's video"
    assert not r.active
