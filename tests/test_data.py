"""Dataset readers, format detection, the preprocessing cache and the text report.

Every fixture is written in the dataset's real on-disk layout: tiny synthetic crops for the
pre-cropped sets, and the demo astronaut portrait (resized / rotated) for the full-size sets,
so the live pipeline's detector really finds a face. Broken inputs (truncated PNG, bad csv
rows, unknown label folders, non-image files) must be listed, never crash a load.
"""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import ferapp.data.folders as folders_mod
from ferapp.data import (
    DatasetError,
    detect_format,
    get_protocol,
    list_formats,
    load_dataset,
    summarize,
)
from ferapp.data.fer2013 import ferplus_labels
from ferapp.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
ASTRONAUT = REPO / "resources" / "demo" / "astronaut.png"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _crop(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _face(i: int, size: int = 220) -> np.ndarray:
    """Astronaut portrait at ``size`` px, rotated a few degrees (detectable by dlib HOG)."""
    im = cv2.imread(str(ASTRONAUT))
    im = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
    angle = (-6, 0, 6, 3)[i % 4]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    im = cv2.warpAffine(im, m, (size, size), borderMode=cv2.BORDER_REFLECT)
    return cv2.add(im, np.full_like(im, i % 7))  # slightly different bytes per file


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _truncated_png() -> bytes:
    return _png(_crop(999))[:120]


def _reasons(ds) -> dict[str, str]:
    return {
        Path(item.split("!")[-1]).name if "/" in item or "!" in item else item: why
        for item, why in ds.report.skipped
    }


# ------------------------------------------------------------------------------------------
# FER2013 csv


def _fer_rows(n: int = 21):
    rows = []
    usages = ["Training"] * 14 + ["PublicTest"] * 4 + ["PrivateTest"] * 3
    for i in range(n):
        px = _crop(i).ravel()
        rows.append((i % 7, px, usages[i]))
    return rows


def _fer_csv_text(rows, bad: bool = True) -> tuple[str, dict[int, str]]:
    lines = ["emotion,pixels,Usage"]
    bad_rows = {}
    for k, (e, px, u) in enumerate(rows):
        lines.append(f"{e},{' '.join(map(str, px))},{u}")
        if bad and k == 4:  # after row 4, insert the broken rows
            lines.append(f"3,{' '.join(map(str, px[:-1]))},Training")  # 2303 values
            bad_rows[5] = "2304"
            lines.append(f"2,{' '.join(map(str, px[:-1]))} x1,Training")  # non-numeric
            bad_rows[6] = "non-numeric"
            lines.append(f"9,{' '.join(map(str, px))},Training")  # bad emotion code
            bad_rows[7] = "emotion code"
            lines.append("4,1 2 3")  # wrong number of fields
            bad_rows[8] = "fields"
            lines.append(f"1,{' '.join(['300'] * 2304)},Training")  # out of range
            bad_rows[9] = "out-of-range"
    return "\n".join(lines) + "\n", bad_rows


def test_fer2013_csv_reader_plain_and_gz(tmp_path):
    rows = _fer_rows()
    text, bad = _fer_csv_text(rows)
    plain = _write(tmp_path / "fer2013.csv", text.encode())
    gz = _write(tmp_path / "g" / "fer2013.csv.gz", gzip.compress(text.encode()))
    assert detect_format(plain) == detect_format(gz) == "fer2013-csv"
    ticks = []
    ds = load_dataset(
        plain, cache_dir=tmp_path / "c", progress=lambda done, total: ticks.append((done, total))
    )
    assert ticks and ticks[-1][0] == ticks[-1][1] == plain.stat().st_size
    dz = load_dataset(gz, cache_dir=tmp_path / "c")
    assert len(ds) == len(rows) == len(dz)
    assert ds.images.shape == (len(rows), 48, 48) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, dz.images)
    np.testing.assert_array_equal(ds.images[0].ravel(), rows[0][1])
    np.testing.assert_array_equal(ds.images[-1].ravel(), rows[-1][1])
    np.testing.assert_array_equal(ds.labels, [r[0] for r in rows])
    assert ds.label_names == LABELS
    assert ds.report.counts["Training"]["angry"] == 2 and sum(ds.report.counts["PrivateTest"].values()) == 3
    assert list(ds.report.counts) == ["Training", "PublicTest", "PrivateTest"]
    # every bad row is listed with its data-row index and a reason
    listed = dict(ds.report.skipped)
    assert set(listed) == {f"row:{r}" for r in bad}
    for r, word in bad.items():
        assert word in listed[f"row:{r}"], (r, listed[f"row:{r}"])
    # good rows keep their original row index (FER+ alignment relies on it)
    assert ds.paths[5] == "row:10"


def test_fer2013_no_usable_rows_is_a_clear_error(tmp_path):
    p = _write(tmp_path / "fer.csv", b"emotion,pixels,Usage\n9,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="no usable rows"):
        load_dataset(p, use_cache=False)
    q = _write(tmp_path / "other.csv", b"a,b,c\n1,2,3\n")
    with pytest.raises(DatasetError):
        load_dataset(q, use_cache=False)


def test_fer2013_out_size_resizes(tmp_path):
    text, _ = _fer_csv_text(_fer_rows(), bad=False)
    p = _write(tmp_path / "fer2013.csv", text.encode())
    ds = load_dataset(p, out_size=(32, 32), cache_dir=tmp_path / "c")
    assert ds.images.shape[1:] == (32, 32)


def _ferplus_csv(rows, votes) -> str:
    head = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    lines = [head]
    for i, ((_, _, u), v) in enumerate(zip(rows, votes, strict=True)):
        lines.append(f"{u},fer{i:07d}.png," + ",".join(str(x) for x in v))
    return "\n".join(lines) + "\n"


def test_ferplus_majority_and_soft_alignment(tmp_path):
    rows = _fer_rows()
    text, _ = _fer_csv_text(rows, bad=False)
    fer = _write(tmp_path / "fer2013" / "fer2013.csv", text.encode())
    votes = []
    for i in range(len(rows)):
        v = [0] * 10
        if i == 1:
            v[0], v[1] = 5, 5  # tie: no majority
        elif i == 2:
            v[9] = 10  # not a face
        elif i == 3:
            v[7] = 8  # contempt
            v[0] = 2
        elif i == 4:
            v[2], v[8] = 9, 1  # single vote is an outlier -> pure surprise
        else:
            v[4] = 8  # anger
            v[6] = 2  # fear
        votes.append(v)
    _write(tmp_path / "ferplus" / "fer2013new.csv", _ferplus_csv(rows, votes).encode())  # found as sibling
    ds = load_dataset(fer, ferplus="majority", cache_dir=tmp_path / "c")
    assert ds.report.format == "fer2013-csv+ferplus-majority"
    kept_rows = [int(p.split(":")[1]) for p in ds.paths]
    assert 1 not in kept_rows and 2 not in kept_rows and 3 not in kept_rows
    assert len(ds) == len(rows) - 3
    lab = dict(zip(kept_rows, ds.labels.tolist(), strict=True))
    assert lab[0] == LABELS.index("angry") and lab[4] == LABELS.index("surprise")
    reasons = dict(ds.report.skipped)
    assert (
        "no majority" in reasons["row:1"]
        and "not a face" in reasons["row:2"]
        and "contempt" in reasons["row:3"]
    )
    # images still belong to their own rows
    np.testing.assert_array_equal(ds.images[kept_rows.index(4)].ravel(), rows[4][1])

    dk = load_dataset(fer, ferplus="majority", keep_contempt=True, cache_dir=tmp_path / "c")
    assert dk.label_names[-1] == "contempt" and len(dk.label_names) == 8
    assert dk.labels[[int(p.split(":")[1]) for p in dk.paths].index(3)] == 7

    soft = load_dataset(fer, ferplus="soft", cache_dir=tmp_path / "c")
    assert soft.soft_labels is not None and soft.soft_labels.shape == (len(soft), 7)
    np.testing.assert_allclose(soft.soft_labels.sum(1), 1.0, rtol=1e-6)
    srows = [int(p.split(":")[1]) for p in soft.paths]
    assert 1 in srows  # a tie is a valid distribution in soft mode
    np.testing.assert_allclose(soft.soft_labels[srows.index(0)][[0, 2]], [0.8, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(soft.labels, soft.soft_labels.argmax(1))


def test_ferplus_row_count_mismatch_is_rejected(tmp_path):
    rows = _fer_rows()
    text, _ = _fer_csv_text(rows, bad=False)
    fer = _write(tmp_path / "fer2013.csv", text.encode())
    fp = _write(
        tmp_path / "plus.csv", _ferplus_csv(rows[:-2], [[0, 10] + [0] * 8] * (len(rows) - 2)).encode()
    )
    with pytest.raises(DatasetError, match="cannot be aligned"):
        load_dataset(fer, ferplus="majority", ferplus_csv=fp, use_cache=False)


def test_ferplus_labels_rule():
    votes = np.array(
        [
            [6, 0, 0, 0, 4, 0, 0, 0, 0, 0],  # neutral 60% -> majority
            [5, 0, 0, 0, 5, 0, 0, 0, 0, 0],  # tie -> dropped
            [0, 0, 0, 0, 0, 0, 0, 0, 7, 3],
        ],  # unknown -> dropped
        dtype=np.float32,
    )
    lab, soft, reason = ferplus_labels(votes, "majority", False)
    assert lab.tolist() == [LABELS.index("neutral"), -1, -1] and reason.tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        ferplus_labels(votes, "vote", False)


# ------------------------------------------------------------------------------------------
# class-per-folder: Kaggle FER2013 folders and CK+48


def _kaggle_tree(root: Path) -> Path:
    k = 0
    for split, n in (("train", 4), ("test", 2)):
        for cls in LABELS:
            for _ in range(n):
                _write(
                    root / split / cls / f"{split.title()}_{k:05d}.jpg",
                    cv2.imencode(".png", _crop(k))[1].tobytes(),
                )
                k += 1
    _write(root / "train" / "weird" / "Training_x.png", _png(_crop(1000)))  # unknown label folder
    _write(root / "train" / "happy" / "Training_broken.png", _truncated_png())  # truncated PNG
    _write(root / "train" / "notes.txt", b"not an image")  # non-image file
    _write(root / ".DS_Store", b"\0\0")  # OS litter: ignored silently
    return root


def test_kaggle_folders(tmp_path):
    root = _kaggle_tree(tmp_path / "fer2013_folders")
    assert detect_format(root) == "image-folders"
    ds = load_dataset(root, cache_dir=tmp_path / "c")
    assert len(ds) == 7 * 6
    assert ds.report.counts["train"] == dict.fromkeys(LABELS, 4)
    assert ds.report.counts["test"] == dict.fromkeys(LABELS, 2)
    reasons = _reasons(ds)
    assert "unknown label" in reasons["Training_x.png"]
    assert "unreadable" in reasons["Training_broken.png"]
    assert "not an image" in reasons["notes.txt"]
    assert ".DS_Store" not in reasons
    assert any("'weird'" in w for w in ds.report.warnings)
    fold = get_protocol("official").folds(ds)[0]
    assert set(ds.splits[fold.test_idx]) == {"test"} and len(fold.test_idx) == 14
    assert len(fold.val_idx) > 0 and set(ds.splits[fold.val_idx]) == {"train"}
    assert len(fold.train_idx) + len(fold.val_idx) == 28


def _ck48_tree(root: Path) -> Path:
    k = 0
    classes = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    for ci, cls in enumerate(classes):
        for s in range(3):
            subj = f"S{100 + (s + ci) % 5:03d}"
            for frame in range(3):
                _write(root / "CK+48" / cls / f"{subj}_{ci + 1:03d}_{frame + 10:08d}.png", _png(_crop(k)))
                k += 1
    return root


def test_ckplus48_folder_and_zip_identical(tmp_path):
    root = _ck48_tree(tmp_path / "ck")
    zpath = tmp_path / "CK+48.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted((root).rglob("*")):
            z.write(p, p.relative_to(root).as_posix())
    assert detect_format(root) == detect_format(zpath) == "ckplus48"
    a = load_dataset(root, keep_contempt=True, cache_dir=tmp_path / "c")
    b = load_dataset(zpath, keep_contempt=True, cache_dir=tmp_path / "c")
    assert len(a) == len(b) == 63
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.subjects, b.subjects)
    assert a.fingerprint == b.fingerprint
    assert b.paths[0].startswith(str(zpath) + "!CK+48/")
    assert a.report.num_subjects == 5 and set(a.subjects) == {f"S{100 + i:03d}" for i in range(5)}
    assert a.label_names[7] == "contempt" and a.report.counts[""]["contempt"] == 9
    assert a.report.counts[""]["neutral"] == 0
    assert "missing classes (no samples): neutral" in summarize(a)

    d = load_dataset(zpath, cache_dir=tmp_path / "c")  # contempt dropped by default
    assert len(d) == 54 and d.label_names == LABELS and d.labels.max() < 7
    assert any("contempt" in w for w in d.report.warnings)
    assert sum(1 for _, why in d.report.skipped if "contempt" in why) == 9


def test_resize_pre_cropped_only_when_size_differs(tmp_path):
    root = tmp_path / "f"
    _write(root / "train" / "happy" / "a.png", _png(_crop(1, 64)))
    _write(root / "train" / "sad" / "b.png", _png(_crop(2, 48)))
    ds = load_dataset(root, use_cache=False)
    assert ds.images.shape == (2, 48, 48)
    np.testing.assert_array_equal(ds.images[ds.labels == LABELS.index("sad")][0], _crop(2, 48))


# ------------------------------------------------------------------------------------------
# full-size sets through the live pipeline's aligner


@pytest.fixture
def counting_aligner(monkeypatch):
    """Wrap the real ``ferapp.detect.align.extract_face`` and count calls."""
    from ferapp.detect.align import extract_face

    calls = []

    def counted(image, out_size=(48, 48), detector="hog"):
        calls.append(image.shape)
        return extract_face(image, out_size=out_size, detector=detector)

    monkeypatch.setattr(folders_mod, "_load_extractor", lambda: counted)
    return calls


def _jpg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def _tiff(img: np.ndarray) -> bytes:
    return cv2.imencode(".tiff", cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))[1].tobytes()


def _jaffe_tree(root: Path) -> Path:
    i = 0
    for subj in ("KA", "KL"):
        for code in ("AN", "DI", "FE", "HA", "NE", "SA", "SU"):
            _write(root / f"{subj}.{code}{1 + i % 3}.{39 + i}.tiff", _tiff(_face(i)))
            i += 1
    _write(root / "KA.XX1.90.tiff", _tiff(_face(1)))  # unknown expression code
    _write(root / "README.txt", b"JAFFE")  # non-image
    _write(root / "KL.HA9.91.tiff", b"II*\0garbage")  # unreadable tiff
    _write(root / "KA.NE3.92.tiff", _tiff(np.full((200, 200, 3), 128, np.uint8)))  # no face
    return root


def test_jaffe_reader_uses_live_aligner_and_cache(tmp_path, counting_aligner):
    root = _jaffe_tree(tmp_path / "jaffe")
    assert detect_format(root) == "jaffe"
    ds = load_dataset(root, cache_dir=tmp_path / "c")
    assert len(ds) == 15 and ds.images.shape == (15, 48, 48)
    assert len(counting_aligner) == 15
    assert ds.report.num_subjects == 2 and set(ds.subjects) == {"KA", "KL"}
    assert ds.report.counts[""]["neutral"] == 3 and ds.report.counts[""]["fear"] == 2
    reasons = _reasons(ds)
    assert "unknown label 'XX'" in reasons["KA.XX1.90.tiff"]
    assert "not an image" in reasons["README.txt"] and "unreadable" in reasons["KL.HA9.91.tiff"]
    no_face = [w for w in ds.report.warnings if w.startswith("no face found")]
    assert len(no_face) == 1 and "KA.NE3.92.tiff" in no_face[0]  # only the blank image; the faces were found
    assert ds.images[ds.paths.index(str(root / "KA.NE3.92.tiff"))].std() < 1  # centre crop of a flat image
    assert all(ds.images[i].std() > 10 for i in range(len(ds)) if "NE3.92" not in ds.paths[i])

    again = load_dataset(root, cache_dir=tmp_path / "c")  # cache hit: the aligner is not called again
    assert len(counting_aligner) == 15
    np.testing.assert_array_equal(again.images, ds.images)
    assert again.report.skipped == ds.report.skipped and again.paths == ds.paths

    load_dataset(root, out_size=(40, 40), cache_dir=tmp_path / "c")  # other settings: new entry
    assert len(counting_aligner) == 30
    f = root / "KA.AN1.39.tiff"
    os.utime(f, (f.stat().st_atime, f.stat().st_mtime + 10))  # a changed file invalidates the entry
    load_dataset(root, cache_dir=tmp_path / "c")
    assert len(counting_aligner) == 45


def test_aligned_crop_is_the_live_pipeline_crop(tmp_path):
    from ferapp.detect.align import extract_face

    img = _face(0)
    _write(tmp_path / "j" / "KA.HA1.1.tiff", _tiff(img))
    ds = load_dataset(tmp_path / "j", use_cache=False)
    live = extract_face(
        cv2.imdecode(np.frombuffer(_tiff(img), np.uint8), cv2.IMREAD_COLOR), out_size=(48, 48)
    )
    assert live is not None
    live = cv2.cvtColor(live, cv2.COLOR_BGR2GRAY) if live.ndim == 3 else live
    np.testing.assert_array_equal(ds.images[0], live)
    assert not [w for w in ds.report.warnings if "face" in w or "align" in w]


def test_kdef_angles(tmp_path, counting_aligner):
    root = tmp_path / "KDEF"
    i = 0
    for sess, sex, num in (("A", "F", "01"), ("B", "F", "01"), ("A", "M", "02")):
        for expr in ("AF", "AN", "HA"):
            for ang in ("S", "HL", "FR"):
                name = f"{sess}{sex}{num}{expr}{ang}.JPG"
                _write(root / f"{sess}{sex}{num}" / name, _jpg(_face(i)))
                i += 1
    _write(root / "AF01/AF01XXS.JPG", _jpg(_face(0)))
    assert detect_format(root) == "kdef"
    ds = load_dataset(root, cache_dir=tmp_path / "c")
    assert len(ds) == 9 and all("S.JPG" in p for p in ds.paths)
    assert set(ds.subjects) == {"F01", "M02"} and ds.report.num_subjects == 2
    assert ds.report.counts[""]["fear"] == 3
    assert any("18 image(s) excluded" in w for w in ds.report.warnings)
    assert "unknown label 'XX'" in _reasons(ds)["AF01XXS.JPG"]
    both = load_dataset(root, angles=("S", "HL"), cache_dir=tmp_path / "c")
    assert len(both) == 18
    assert len(load_dataset(root, angles=None, cache_dir=tmp_path / "c")) == 27
    with pytest.raises(DatasetError, match="angle"):
        load_dataset(root, angles=("UP",), use_cache=False)


def test_oulu_casia(tmp_path):
    root = tmp_path / "OriginalImg" / "VL" / "Strong"
    i = 0
    for subj in ("P001", "P002"):
        for expr in ("Anger", "Happiness", "Surprise"):
            for f in range(2):
                _write(root / subj / expr / f"{f:03d}.jpeg", _jpg(_face(i)))
                i += 1
    _write(root / "P002" / "Bored" / "000.jpeg", _jpg(_face(3)))
    top = tmp_path / "OriginalImg"
    assert detect_format(top) == "oulu"
    ds = load_dataset(top, use_cache=False)
    assert len(ds) == 12 and set(ds.subjects) == {"P001", "P002"}
    assert ds.report.counts[""]["happy"] == 4
    assert any("'Bored'" in w for w in ds.report.warnings)
    folds = get_protocol("subject-2fold").folds(ds)
    for f in folds:
        assert set(ds.subjects[f.test_idx]).isdisjoint(ds.subjects[np.r_[f.train_idx, f.val_idx]])


def _ckplus_tree(root: Path) -> Path:
    i = 0
    seqs = [
        ("S005", "001", 3),
        ("S010", "002", 5),
        ("S010", "004", 1),
        ("S011", "001", 2),
        ("S014", "003", None),
    ]
    for subj, seq, code in seqs:
        for frame in range(1, 4):
            name = f"{subj}_{seq}_{frame:08d}.png"
            img = _face(i) if frame == 3 else _face(i, size=240)
            _write(root / "cohn-kanade-images" / subj / seq / name, _png(img))
            i += 1
        if code is not None:
            _write(
                root / "Emotion" / subj / seq / f"{subj}_{seq}_00000003_emotion.txt",
                f"   {float(code):.7e}\n".encode(),
            )
    _write(root / "Emotion" / "S011" / "002" / "S011_002_00000009_emotion.txt", b"bogus")
    return root


def test_ckplus_original_layout(tmp_path, counting_aligner):
    root = _ckplus_tree(tmp_path / "CK+")
    assert detect_format(root) == "ckplus"
    ds = load_dataset(root, cache_dir=tmp_path / "c")
    # S005 disgust, S010/002 happy, S010/004 anger, S011 contempt (dropped), S014 unlabelled
    assert len(ds) == 3 and all(p.endswith("_00000003.png") for p in ds.paths)
    assert sorted(ds.labels.tolist()) == sorted(LABELS.index(x) for x in ("disgust", "happy", "angry"))
    assert set(ds.subjects) == {"S005", "S010"}
    assert any("1 sequence(s) without an Emotion label" in w for w in ds.report.warnings)
    assert "not a number" in _reasons(ds)["S011_002_00000009_emotion.txt"]
    assert "contempt" in _reasons(ds)["S011_001_00000003_emotion.txt"]
    assert len(counting_aligner) == 3

    dn = load_dataset(root, include_neutral_first_frame=True, keep_contempt=True, cache_dir=tmp_path / "c")
    assert len(dn) == 8 and dn.report.counts[""]["neutral"] == 4 and dn.report.counts[""]["contempt"] == 1
    assert sum(p.endswith("_00000001.png") for p in dn.paths) == 4


# ------------------------------------------------------------------------------------------
# detection, errors, report, CLI


def test_list_formats_and_detection_errors(tmp_path):
    assert {"fer2013-csv", "image-folders", "ckplus48", "ckplus", "jaffe", "kdef", "oulu"} <= set(
        list_formats()
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        load_dataset(empty)
    junk = _write(tmp_path / "junk" / "a.txt", b"hello").parent
    with pytest.raises(DatasetError):
        load_dataset(junk)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError):
        load_dataset(_write(tmp_path / "x.bin", b"\0" * 10))
    flat = tmp_path / "flat"
    _write(flat / "a" / "b" / "img.png", _png(_crop(1)))
    with pytest.raises(DatasetError, match="layout"):
        detect_format(flat)
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_dataset(flat, "nope")
    only_bad = tmp_path / "bad"
    _write(only_bad / "happy" / "x.png", _truncated_png())
    with pytest.raises(DatasetError, match="no usable"):
        load_dataset(only_bad, "image-folders", use_cache=False)


def test_summarize_reports_imbalance_missing_and_skipped(tmp_path):
    root = tmp_path / "imb"
    for k in range(11):
        _write(root / "train" / "happy" / f"{k}.png", _png(_crop(k)))
    _write(root / "train" / "sad" / "s.png", _png(_crop(50)))
    _write(root / "train" / "sad" / "bad.png", _truncated_png())
    ds = load_dataset(root, use_cache=False)
    text = summarize(ds)
    assert "class imbalance: happy (11) / sad (1)" in text
    assert "missing classes (no samples): angry, disgust, fear, surprise, neutral" in text
    assert any(w.startswith("class imbalance") for w in ds.report.warnings)  # also in the report itself
    assert text.count("class imbalance") == 1
    assert "skipped: 1" in text and "bad.png" in text
    row = next(line for line in text.splitlines() if line.startswith("train"))
    assert row.split()[1:] == ["0", "0", "0", "11", "1", "0", "0", "12"]


def test_cli_inspect(tmp_path, capsys):
    from ferapp.data.cli import main

    root = _ck48_tree(tmp_path / "ck")
    assert main(["data", "inspect", str(root), "--json", "--cache-dir", str(tmp_path / "c")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "ckplus48" and out["samples"] == 54 and out["num_subjects"] == 5
    assert main(["data", "inspect", str(root), "--keep-contempt", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "ckplus48" in capsys.readouterr().out
    assert main(["data", "inspect", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    root = _ck48_tree(tmp_path / "ck")
    cdir = tmp_path / "c"
    a = load_dataset(root, cache_dir=cdir)
    entries = list(cdir.glob("*.npz"))
    assert len(entries) == 1
    entries[0].write_bytes(b"garbage")
    b = load_dataset(root, cache_dir=cdir)
    np.testing.assert_array_equal(a.images, b.images)
    assert np.load(entries[0])["images"].shape == a.images.shape  # rewritten


def test_corrupt_zip_member_is_listed_not_fatal(tmp_path):
    root = _ck48_tree(tmp_path / "ck")
    zpath = tmp_path / "ck.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as z:
        for p in sorted(root.rglob("*.png")):
            z.write(p, p.relative_to(root).as_posix())
    victim = "CK+48/happy/S104_005_00000010.png"
    with zipfile.ZipFile(zpath) as z:
        info = z.getinfo(victim)
    raw = bytearray(zpath.read_bytes())
    data_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 200
    raw[data_at] ^= 0xFF  # CRC no longer matches
    zpath.write_bytes(bytes(raw))
    ds = load_dataset(zpath, use_cache=False)
    assert len(ds) == 53
    assert dict(ds.report.skipped)[f"{zpath}!{victim}"].startswith("unreadable")
