"""Issue 27 (readers): readers that cannot be hung or blown up, bounded model configs, reserved
model names, option checks before the work. Each test reproduces one case of the probe and
failed (or hung, bounded by its timeout) on the code before the fix."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferapp.cli import main
from ferapp.record.timeline import TIMELINE_COLUMNS, TimelineError, read_timeline, sidecar_path
from tests.media import black_png

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")


@pytest.fixture(autouse=True)
def _dataset_cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "dataset-cache"))


def _cli(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _class_folders(root: Path, per_class: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("happy", "sad"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / cls / f"{i}.png").write_bytes(_png(rng.integers(0, 256, (48, 48), dtype=np.uint8)))
    return root


# ---------------------------------------------------------------------- special files (item 12)
@needs_fifo
@pytest.mark.timeout(120)
def test_fifo_named_png_in_a_dataset_folder_is_listed_not_read(tmp_path, capsys):
    """Before: `ferapp data inspect` blocked forever opening the FIFO (killed after 20 s)."""
    root = _class_folders(tmp_path / "ds")
    os.mkfifo(root / "happy" / "pipe.png")
    rc, out, err = _cli(["data", "inspect", str(root), "--json", "--cache-dir", str(tmp_path / "c")], capsys)
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["samples"] == 4
    assert [r for item, r in rep["skipped"] if item.endswith("pipe.png")] == [
        "a named pipe (FIFO), not a regular file: not read"
    ]


@needs_fifo
@pytest.mark.timeout(120)
def test_fifo_given_as_a_fer_csv_is_refused_not_waited_on(tmp_path, capsys):
    fifo = tmp_path / "fer2013.csv"
    os.mkfifo(fifo)
    rc, _, err = _cli(
        ["data", "inspect", str(fifo), "--format", "fer2013-csv", "--cache-dir", str(tmp_path)], capsys
    )
    assert rc == 2 and err.strip() == f"error: cannot read {fifo}: a named pipe (FIFO), not a regular file"


@needs_fifo
@pytest.mark.timeout(120)
def test_fifo_sidecar_does_not_block_read_timeline(tmp_path):
    """Before: read_timeline blocked forever opening ok.json."""
    p = tmp_path / "ok.csv"
    p.write_text(",".join(TIMELINE_COLUMNS) + "\n")
    os.mkfifo(sidecar_path(p))
    tl = read_timeline(p)
    assert len(tl) == 0 and tl.recovered and any("sidecar" in w for w in tl.warnings)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.timeout(180)
def test_timeline_csv_linked_to_dev_zero_ends_with_an_error(tmp_path):
    """Before: the size check saw st_size 0 and read_bytes() read /dev/zero until memory ran out
    (MemoryError after 12 s at a 3 GB limit). Run in a child capped at 3 GB so a regression
    fails instead of taking the machine's memory."""
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from ferapp.record.timeline import TimelineError, read_timeline\n"
        "try:\n    read_timeline(sys.argv[1])\n"
        "except TimelineError as e:\n    print(e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(link)], capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, res.stderr[-500:]
    assert res.stdout.strip() == f"Cannot read timeline '{link}': a device, not a regular file"


# -------------------------------------------------------------------- decompression bombs (10)
def test_image_size_is_read_from_the_header_and_a_bomb_is_refused_undecoded():
    from ferapp.safeio import MAX_IMAGE_PIXELS, ImageError, check_image_size, decode_image

    bomb = black_png(30000, 30000)  # 0.9 MB on disk, 900 MB of pixels
    assert len(bomb) < 1_000_000
    with pytest.raises(
        ImageError, match=r"30000x30000 pixels \(900 MP\): larger than the image limit of 67 MP"
    ):
        check_image_size(bomb)
    with pytest.raises(ImageError, match="larger than the image limit"):
        decode_image(bomb)
    assert check_image_size(black_png(8192, 8192)) == (8192, 8192)  # 64 MP: at the limit, allowed
    assert 8192 * 8192 == MAX_IMAGE_PIXELS


@pytest.mark.timeout(300)
def test_analyze_a_huge_png_is_one_clear_error(tmp_path, capsys):
    """Before: a 30000x30000 PNG of 875 KB took 84 s and 5.3 GB RSS and then analysed it.
    (12000x12000 here: the same refusal, a tenth of the damage when it regresses.)"""
    img = tmp_path / "huge.png"
    img.write_bytes(black_png(12000, 12000))
    rc, _, err = _cli(
        ["analyze", str(img), "--model", "cc_lenet5", "--quiet", "--out", str(tmp_path / "o.csv")], capsys
    )
    assert rc == 2
    assert "12000x12000 pixels (144 MP): larger than the image limit of 67 MP (8192x8192)" in err
    assert "Traceback" not in err and not (tmp_path / "o.csv").exists()


@pytest.mark.timeout(300)
def test_dataset_zip_with_huge_png_entries_skips_them_naming_the_limit(tmp_path):
    """Before: a 36 KB zip with two 30000x30000 entries cost 2.7 GB in `data inspect` (and the
    two black squares were loaded as training images)."""
    from ferapp.data import load_dataset

    root = _class_folders(tmp_path / "ds")
    z = tmp_path / "bombs.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*.png")):
            zf.write(f, f.relative_to(root).as_posix())
        zf.writestr("happy/bomb1.png", black_png(12000, 12000))
        zf.writestr("sad/bomb2.png", black_png(9000, 9000))
    ds = load_dataset(z, "image-folders", use_cache=False)
    assert len(ds) == 4
    reasons = {item.rsplit("!", 1)[-1]: why for item, why in ds.report.skipped}
    assert "larger than the image limit of 67 MP" in reasons["happy/bomb1.png"]
    assert reasons["sad/bomb2.png"].startswith("9000x9000 pixels (81 MP)")


# -------------------------------------------------------------------- FER2013 row bomb (item 9)
def _gz_lines(path: Path, line: bytes, n_millions: int) -> Path:
    """A .gz of ``n_millions`` million copies of ``line`` (concatenated gzip members: instant)."""
    member = gzip.compress(line * 1_000_000, compresslevel=9)
    path.write_bytes(gzip.compress(b"emotion,pixels,Usage\n") + member * n_millions)
    return path


@pytest.mark.timeout(120)
def test_fer_csv_of_twenty_million_bad_lines_stops_at_once(tmp_path, capsys):
    """Before: 72 s and 4.3 GB RSS (every skipped row kept); at the 2 GB text limit ~78 GB."""
    bomb = _gz_lines(tmp_path / "bomb.csv.gz", b"1,2\n", 20)
    assert bomb.stat().st_size < 200_000
    rc, _, err = _cli(["data", "inspect", str(bomb), "--cache-dir", str(tmp_path / "c")], capsys)
    assert rc == 2
    assert err.strip() == (
        f"error: {bomb}: more than 500,000 lines (FER2013 has 35,887 rows): not a FER2013 csv, "
        "stopped reading"
    )


def test_bad_fer_rows_are_counted_and_only_the_first_few_listed(tmp_path):
    from ferapp.data import load_dataset, summarize

    rng = np.random.default_rng(0)
    good = "\n".join(f"{k},{' '.join(map(str, rng.integers(0, 256, 2304)))},Training" for k in (0, 3, 6))
    p = tmp_path / "fer.csv"
    p.write_bytes(b"emotion,pixels,Usage\n" + good.encode() + b"\n" + b"1,2\n" * 200_000)
    for _ in range(2):  # the cold read, then the cache entry
        ds = load_dataset(p, cache_dir=tmp_path / "c")
        assert len(ds) == 3
        assert len(ds.report.skipped) == 100  # the first hundred listed (before: all 200,000 tuples kept)
        assert ds.report.skipped_count == 200_000
        assert ds.report.skipped[0] == ("row:3", "expected 3 fields, found 2")
        text = summarize(ds)
        assert "skipped: 200000" in text and f"... and {200_000 - 20} more" in text
        assert "200000 bad row(s) skipped" in " ".join(ds.report.warnings)


# ------------------------------------------------------------------------ wide header (item 13)
@pytest.mark.timeout(60)
def test_timeline_with_40000_columns_is_refused_at_once(tmp_path):
    """Before: 107 s in the duplicate-column check (O(n^2)), on the GUI thread in the viewer."""
    p = tmp_path / "wide.csv"
    p.write_text(
        ",".join(list(TIMELINE_COLUMNS) + [f"c{i}" for i in range(40_000 - len(TIMELINE_COLUMNS))]) + "\n"
    )
    assert p.stat().st_size < 300_000
    with pytest.raises(TimelineError, match="40000 columns"):
        read_timeline(p)


def test_repeated_column_is_found_in_the_widest_header_allowed(tmp_path):
    from ferapp.record.timeline import MAX_COLUMNS

    extra = [f"c{i}" for i in range(MAX_COLUMNS - len(TIMELINE_COLUMNS) - 1)] + ["c7"]
    p = tmp_path / "dup.csv"
    p.write_text(",".join(list(TIMELINE_COLUMNS) + extra) + "\n")
    with pytest.raises(TimelineError, match="repeated columns: c7"):
        read_timeline(p)
    extra[-1] = "last"
    p.write_text(",".join(list(TIMELINE_COLUMNS) + extra) + "\n")
    assert len(read_timeline(p)) == 0


# -------------------------------------------------------------------- model configs (item 11)
def _resnet_dir(tmp_path: Path, kwargs: dict) -> Path:
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.registry import create_model

    m = create_model("resnet20")
    d = save_model_dir(tmp_path / "copied", m, m.cfg, {"trained": True})
    cfg = json.loads((d / "config.json").read_text())
    cfg["kwargs"] = kwargs
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.fixture
def no_real_build(monkeypatch):
    """Building the network for real is what must not happen for these configs."""
    import ferapp.zoo.io as zio

    def refuse(*a, **k):
        raise AssertionError("the network was built")

    monkeypatch.setattr(zio, "create_model", refuse)


@needs_fifo
@pytest.mark.timeout(120)
def test_fifo_model_files_are_refused(tmp_path):
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.io import load_model_dir, save_model_dir
    from ferapp.zoo.registry import create_model

    m = create_model("cc_lenet5")
    d = save_model_dir(tmp_path / "m", m, m.cfg)
    (d / "model.pt").unlink()
    os.mkfifo(d / "model.pt")
    with pytest.raises(CheckpointError, match="named pipe"):
        load_model_dir(d)
    (d / "config.json").unlink()
    os.mkfifo(d / "config.json")
    with pytest.raises(CheckpointError, match="named pipe"):
        load_model_dir(d)


@pytest.mark.timeout(120)
def test_config_asking_for_a_huge_network_is_refused_before_building(tmp_path, no_real_build):
    """Before: base_width 1024 built a 4.5 GB network (80 s) before "weights do not fit"."""
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.store import resolve_model

    d = _resnet_dir(tmp_path, {"base_width": 1024})
    with pytest.raises(CheckpointError, match=r"would hold 1,105 M numbers \(4.1 GB\); the limit is 100 M"):
        resolve_model(str(d))


def test_config_whose_shapes_differ_from_the_weights_names_the_tensor(tmp_path, no_real_build):
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.io import load_model_dir

    d = _resnet_dir(tmp_path, {"base_width": 32})
    with pytest.raises(
        CheckpointError,
        match=r"stem.0.weight is \[16, 1, 3, 3\] in the weights but "
        r"\[32, 1, 3, 3\] in the config",
    ):
        load_model_dir(d)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 10**9}, "depth = 1000000000 is out of range"),
        ({"base_width": float("nan")}, "base_width = nan is out of range"),
        ({"base_width": "x" * 1000}, "base_width is too long"),
        ({"base_width": {"a": 1}}, "must be a number"),
        ({"nope": 1}, "unexpected keyword argument 'nope'"),
    ],
)
def test_constructor_arguments_are_bounded_with_a_clear_error(tmp_path, no_real_build, kwargs, message):
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.io import load_model_dir

    with pytest.raises(CheckpointError, match=message):
        load_model_dir(_resnet_dir(tmp_path, kwargs))


def test_every_registered_network_lays_out_the_same_shapes_without_allocating():
    """The shape-only build the checks rely on must agree with the real one for every model."""
    from ferapp.zoo.registry import check_model_args, create_model, list_models

    for name in list_models():
        real = {k: tuple(v.shape) for k, v in create_model(name).state_dict().items()}
        assert check_model_args(name) == real, name


# -------------------------------------------------------------------- reserved names (item 7)
def _shipped_name() -> str:
    from ferapp.zoo.store import default_model_name

    return default_model_name()


@pytest.mark.parametrize("spelling", [str.lower, str.upper])
def test_train_save_refuses_a_shipped_models_name_before_loading_data(
    tmp_path, capsys, monkeypatch, spelling
):
    """Before: accepted; a 10%-accuracy cc_lenet5 became the default, timelines still named it
    resnet20_kd_fer2013."""
    import ferapp.train.commands as tc

    monkeypatch.setattr(tc, "_load_data", lambda *a: pytest.fail("the data was loaded"))
    name = spelling(_shipped_name())
    rc, _, err = _cli(["train", "--model", "cc_lenet5", "--data", str(tmp_path), "--save", name], capsys)
    assert rc == 2 and f"'{name}' is the name of a model shipped with ferapp" in err


def test_wizard_save_refuses_a_shipped_models_name(tmp_path):
    from ferapp.train.run import RunResult, save_to_user_models
    from ferapp.zoo.store import user_models_dir

    run = tmp_path / "run" / "model"
    run.mkdir(parents=True)
    with pytest.raises(ValueError, match="is the name of a model shipped with ferapp"):
        save_to_user_models(RunResult("finished", best_model_dir=str(run)), _shipped_name(), overwrite=True)
    assert not (user_models_dir() / _shipped_name()).exists()


def test_a_user_folder_with_a_shipped_name_never_stands_in_for_it(tmp_path, caplog):
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.registry import create_model
    from ferapp.zoo.store import list_trained_models, resolve_model, shipped_models_dir, user_models_dir

    name = _shipped_name()
    m = create_model("cc_lenet5")
    save_model_dir(user_models_dir() / name, m, m.cfg, {"trained": True})  # by hand, or an older ferapp
    with caplog.at_level("WARNING"):
        loaded = resolve_model(name)
    assert loaded.path == shipped_models_dir() / name and loaded.source == "shipped"
    assert loaded.cfg.name != "cc_lenet5"
    assert [e.shipped for e in list_trained_models() if e.name == name] == [True]
    assert "is the name of a shipped model" in caplog.text


def test_timeline_records_which_store_the_model_came_from(tmp_path, capsys):
    from ferapp.zoo.io import save_model_dir
    from ferapp.zoo.registry import create_model
    from ferapp.zoo.store import resolve_model, shipped_models_dir, user_models_dir

    m = create_model("cc_lenet5")
    save_model_dir(user_models_dir() / "mine", m, m.cfg, {"trained": True})
    save_model_dir(tmp_path / "elsewhere", m, m.cfg, {"trained": True})
    assert resolve_model("mine").source == "user"
    assert resolve_model(str(user_models_dir() / "mine")).source == "user"
    assert resolve_model(str(tmp_path / "elsewhere")).source == "file"
    assert resolve_model(str(shipped_models_dir() / "cc_lenet5_fer2013")).source == "shipped"
    assert resolve_model("cc_lenet5").source == "architecture"
    out = tmp_path / "t.csv"
    rc, _, err = _cli(
        ["analyze", "demo", "--model", "mine", "--max-frames", "2", "--quiet", "--out", str(out)], capsys
    )
    assert rc == 0, err
    assert json.loads(sidecar_path(out).read_text())["model_source"] == "user"


# ------------------------------------------------------------- eval / train options (14, 15)
@pytest.fixture
def no_evaluation(monkeypatch):
    import ferapp.train.evaluate as ev

    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("the evaluation ran"))


def test_eval_out_that_cannot_be_written_is_refused_before_evaluating(tmp_path, capsys, no_evaluation):
    """Before: minutes of evaluation, then an OSError traceback."""
    data = _class_folders(tmp_path / "ds")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = {str(blocker): "is not a folder", str(blocker / "sub"): "is not a folder"}
    if os.geteuid() != 0:  # root writes into a read-only folder anyway
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        cases[str(ro / "out")] = "Permission denied"
    for out, why in cases.items():
        rc, _, err = _cli(["eval", "cc_lenet5", "--data", str(data), "--out", out], capsys)
        assert rc == 2 and err.startswith(f"error: --out {out}: ") and why in err, err
        assert err.count("\n") == 1
    assert blocker.read_text() == "x"


def test_eval_results_that_cannot_be_written_at_the_end_are_one_line(tmp_path, capsys, monkeypatch):
    import ferapp.train.evaluate as ev

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ev, "write_eval_artifacts", disk_full)
    data = _class_folders(tmp_path / "ds")
    rc, _, err = _cli(
        ["eval", "cc_lenet5", "--data", str(data), "--out", str(tmp_path / "o"), "--quiet"], capsys
    )
    assert rc == 1
    lines = [x for x in err.splitlines() if not x.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot write the results to {tmp_path / 'o'}: No space left"
    )


@pytest.mark.parametrize("size", ["0", "-3"])
def test_eval_batch_size_must_be_positive(tmp_path, capsys, size, no_evaluation):
    rc, _, err = _cli(["eval", "cc_lenet5", "--data", str(tmp_path), "--batch-size", size], capsys)
    assert rc == 2 and err.strip() == f"error: --batch-size must be a positive integer, not {size}"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--folds", "0"], "--folds takes fold numbers from 1 to 1 (protocol official has 1 fold), not '0'"),
        (
            ["--protocol", "kfold-3", "--folds", "1,4"],
            "from 1 to 3 (protocol kfold-3 has 3 folds), not '1,4'",
        ),
        (["--folds", "x"], "--folds takes fold numbers"),
        (["--max-train", "0"], "--max-train must be a positive number of images, not 0"),
        (["--arg", "nope=1"], "--arg: cannot build cc_lenet5 with {'nope': 1}"),
        (
            ["--model", "resnet20", "--arg", "base_width=1024"],
            "--arg: resnet20 with {'base_width': 1024} would hold",
        ),
    ],
)
def test_train_options_are_checked_before_the_data_loads(tmp_path, capsys, monkeypatch, extra, message):
    import ferapp.train.commands as tc

    monkeypatch.setattr(tc, "_load_data", lambda *a: pytest.fail("the data was loaded"))
    rc, _, err = _cli(["train", "--model", "cc_lenet5", "--data", str(tmp_path), *extra], capsys)
    assert rc == 2 and message in err, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--nproc", "0"], "--nproc must be >= 1, not 0"),
        (["--max-restarts", "-1"], "--max-restarts must be >= 0, not -1"),
        (["--dist-timeout", "0"], "--dist-timeout must be > 0, not 0"),
        (["--dist-timeout", "inf"], "--dist-timeout must be > 0, not inf"),
        (["--nproc", "x"], "not an integer: 'x'"),
    ],
)
def test_train_number_flags_use_the_one_number_type(tmp_path, capsys, extra, message):
    """train's argparse numbers go through inference.commands.number_arg, as analyze's do."""
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "cc_lenet5", "--data", str(tmp_path), *extra])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_check_writable_dir_creates_nothing(tmp_path):
    from ferapp.safeio import check_writable_dir

    assert check_writable_dir(tmp_path / "a" / "b") == ""
    assert list(tmp_path.iterdir()) == []  # neither the folders nor the probe file stay
