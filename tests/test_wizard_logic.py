"""The training wizard's domain logic, without Qt: protocol planning (and its cache), the default
protocol, dataset warnings, model-name rules, run progress / ETA, hints and checkpoints, the
classes a run trains, the baselines a model must beat, a folder holding a dataset archive and
the scale every accuracy is shown with."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ferapp.data.assemble import make_dataset
from ferapp.data.locate import AmbiguousDataset, LocatedDataset, find_datasets, locate_dataset
from ferapp.data.planning import (
    BASIC_PROTOCOLS,
    FALLBACK_PROTOCOLS,
    ProtocolPlan,
    ProtocolPlanner,
    choose_protocol,
    paper_protocols,
    plan_protocol,
    without_empty_classes,
)
from ferapp.data.protocols import get_protocol
from ferapp.data.summary import class_count_text, load_hint, missing_classes, training_warnings
from ferapp.labels import LABELS
from ferapp.scope import dataset_name, model_score, protocol_name
from ferapp.train.baselines import result_baselines, run_baselines
from ferapp.train.card import paper_accuracies
from ferapp.train.progress import RunProgress, checkpoints_of, format_eta, training_hint
from ferapp.zoo.names import NAME_RE, model_name_error, suggest_model_name


def _ds(
    n_subjects: int = 4,
    per_class: int = 8,
    skipped=(),
    warnings=(),
    missing: tuple[int, ...] = (),
    path: str = "/data/CK+48",
):
    """7 classes x ``per_class`` images spread over ``n_subjects`` subjects (0: no subject ids)."""
    labels = np.repeat([c for c in range(7) if c not in missing], per_class).astype(np.int64)
    n = len(labels)
    subjects = np.asarray([f"S{i % n_subjects:03d}" if n_subjects else "" for i in range(n)], dtype=str)
    return make_dataset(
        "test",
        path,
        np.zeros((n, 4, 4), np.uint8),
        labels,
        LABELS,
        np.asarray([""] * n),
        subjects,
        [f"row:{i}" for i in range(n)],
        list(warnings),
        list(skipped),
    )


# ------------------------------------------------------------------------------ protocol planning
def test_plan_describes_the_folds_of_a_protocol_that_fits():
    ds = _ds()
    plan = plan_protocol(ds, " kfold-4 ", seed=0)
    folds = get_protocol("kfold-4").folds(ds, seed=0)
    assert plan.ok and plan.error == "" and plan.name == "kfold-4"
    assert plan.description == get_protocol("kfold-4").describe()
    assert (plan.n_folds, plan.n_train, plan.n_val, plan.n_test) == (
        4,
        len(folds[0].train_idx),
        len(folds[0].val_idx),
        len(folds[0].test_idx),
    )
    assert plan.summary == (
        f"4 fold(s); fold 1: {plan.n_train} train / {plan.n_val} val / {plan.n_test} test images"
    )
    assert plan.n_train + plan.n_val + plan.n_test == len(ds)


def test_plan_says_why_a_protocol_cannot_run():
    ds = _ds(n_subjects=4)
    unknown = plan_protocol(ds, "nonsense")
    assert not unknown.ok and "unknown protocol" in unknown.error and unknown.n_folds == 0
    assert "k must be at least 2" in plan_protocol(ds, "kfold-1").error
    too_many = plan_protocol(ds, "subject-10fold")
    assert too_many.error == (
        "subject-10fold does not fit this dataset: protocol subject-10fold needs at least "
        "10 subjects, dataset has 4"
    )
    no_ids = plan_protocol(_ds(n_subjects=0), "subject-3fold")
    assert (
        no_ids.error.startswith("subject-3fold does not fit this dataset:") and "subject id" in no_ids.error
    )
    assert "no official split" in plan_protocol(ds, "official").error
    assert plan_protocol(ds, "holdout-25").ok
    # a fold without test images: 1 % of 7 images
    tiny = plan_protocol(_ds(per_class=1), "holdout-1")
    assert tiny.error == (
        "holdout-1: fold 1 has 7 training and 0 test images; choose fewer folds or another protocol"
    )


def test_plan_without_a_dataset_checks_only_the_name():
    assert plan_protocol(None, "subject-10fold") == ProtocolPlan("subject-10fold")
    assert plan_protocol(None, "subject-10fold").summary == ""
    assert "unknown protocol" in plan_protocol(None, "bogus").error


def test_planner_builds_each_plan_once_per_dataset_name_and_seed():
    ds = _ds()
    planner = ProtocolPlanner()
    first = planner.plan(ds, "kfold-5", seed=0)
    assert planner.builds == 1 and first == plan_protocol(ds, "kfold-5", seed=0)
    for _ in range(5):  # re-validating the same choice (keystrokes, isComplete) builds nothing
        assert planner.plan(ds, "kfold-5", seed=0) is first
        assert planner.error(ds, " kfold-5 ", seed=0) == ""
    assert planner.builds == 1
    planner.plan(ds, "kfold-5", seed=1)  # another seed: other folds
    planner.plan(ds, "subject-3fold", seed=0)
    assert planner.builds == 3
    # another dataset object (a reload, even of the same content) empties the cache
    other = _ds()
    planner.plan(other, "kfold-5", seed=0)
    assert planner.builds == 4
    planner.plan(ds, "kfold-5", seed=0)
    assert planner.builds == 5
    planner.clear()
    planner.plan(ds, "kfold-5", seed=0)
    assert planner.builds == 6


def test_planner_is_bounded_and_does_not_keep_the_dataset_alive():
    import gc
    import weakref

    planner = ProtocolPlanner(maxsize=2)
    ds = _ds()
    for name in ("kfold-2", "kfold-3", "kfold-4"):
        planner.plan(ds, name)
    assert planner.builds == 3
    planner.plan(ds, "kfold-4")
    planner.plan(ds, "kfold-3")
    assert planner.builds == 3
    planner.plan(ds, "kfold-2")  # evicted (least recently used)
    assert planner.builds == 4
    ref = weakref.ref(ds)
    del ds
    gc.collect()
    assert ref() is None
    planner.plan(None, "kfold-2")  # the dead dataset's plans are not reused for "no dataset"
    assert planner.builds == 5


def test_default_protocol_is_the_papers_preset_when_it_fits():
    ds = _ds(n_subjects=4)  # P1's p1-ck (subject-5fold) needs 5 subjects: p1-jaffe (kfold-3) is the default
    c = choose_protocol(ds, "P1")
    assert c.paper_presets == paper_protocols("P1") == ("p1-ck", "p1-jaffe")
    assert c.items == (*BASIC_PROTOCOLS, "p1-ck", "p1-jaffe")
    assert c.default == "p1-jaffe" and c.paper_fits and c.paper_error == ""
    six = choose_protocol(_ds(n_subjects=6), "P1")
    assert six.default == "p1-ck" and six.paper_fits
    # P3's preset is "official", already a basic protocol: not listed twice
    assert choose_protocol(ds, "P3").items == BASIC_PROTOCOLS


def test_default_protocol_falls_back_and_says_why_the_paper_does_not_fit():
    planner = ProtocolPlanner()
    ds = _ds(n_subjects=4)
    c = choose_protocol(ds, "P4", planner=planner)  # p4 = subject-10fold; subject-5fold fails as well
    assert c.default == "subject-3fold" and not c.paper_fits
    assert c.paper_error == planner.error(ds, "p4") and "at least 10 subjects" in c.paper_error
    builds = planner.builds
    planner.plan(ds, c.default)  # the page validates the default next: already planned
    assert planner.builds == builds
    no_ids = choose_protocol(_ds(n_subjects=0), "P4")
    assert no_ids.default == "kfold-5" and not no_ids.paper_fits
    assert FALLBACK_PROTOCOLS.index("kfold-5") < FALLBACK_PROTOCOLS.index("official")
    # nothing fits at all (one image, one subject): the last resort
    nothing = choose_protocol(_ds(n_subjects=1, per_class=1, missing=(1, 2, 3, 4, 5, 6)), "P4")
    assert nothing.default == "kfold-5" and not nothing.paper_fits
    # an unknown paper: no presets, the first fallback that fits
    unknown = choose_protocol(ds, "P9")
    assert unknown.paper_presets == () and unknown.items == BASIC_PROTOCOLS
    assert unknown.default == "subject-3fold" and not unknown.paper_fits and unknown.paper_error == ""
    # no dataset yet: every valid name "fits"
    assert choose_protocol(None, "P4").default == "p4"


# ------------------------------------------------------------------------------ dataset warnings
def test_training_warnings_list_reader_warnings_skipped_files_and_missing_subjects():
    skipped = [(f"/d/happy/bad{i}.png", "unreadable image") for i in range(5)]
    ds = _ds(n_subjects=0, skipped=skipped, warnings=["odd layout"], missing=(2,))
    w = training_warnings(ds)
    assert w[0] == "odd layout"
    # user wording for a class without images (the reader's "missing classes (no samples): fear" is not shown)
    assert not any("missing classes" in x for x in w)
    assert "No 'fear' images: the model is built without that class and will never predict it." in w
    assert (
        "5 file(s) skipped: bad0.png (unreadable image), bad1.png (unreadable image), "
        "bad2.png (unreadable image) and 2 more"
    ) in w
    assert w[-1].startswith("no subject ids: subject-independent protocols")
    clean = _ds(n_subjects=4)
    assert training_warnings(clean) == []
    two = _ds(skipped=skipped[:2])
    assert training_warnings(two) == [
        "2 file(s) skipped: bad0.png (unreadable image), bad1.png (unreadable image)"
    ]


def test_training_warnings_say_what_contempt_and_imbalance_mean_without_internal_option_names():
    skipped = [
        (f"/d/contempt/S{i:03d}_001_00000001.png", "contempt dropped (keep_contempt=False)")
        for i in range(54)
    ]
    skipped.append(("/d/happy/x.png", "unreadable or truncated image"))
    reader = [
        "contempt: 54 sample(s) dropped (the models use the seven basic expressions; contempt has no class of "
        "its own)"
    ]
    labels_missing = (6,)
    ds = _ds(skipped=skipped, warnings=reader, missing=labels_missing)
    w = training_warnings(ds)
    text = "\n".join(w)
    assert "keep_contempt" not in text and "missing classes" not in text
    assert (
        w[0]
        == "54 'contempt' image(s) left out: contempt is not one of the seven expressions the models recognise"
    )
    assert "No 'neutral' images" in text
    assert (
        "1 file(s) skipped: x.png (unreadable or truncated image)" in w
    )  # contempt files are not listed again
    # imbalance in words
    big = make_dataset(
        "t",
        "/d",
        np.zeros((66, 4, 4), np.uint8),
        np.asarray([3] * 60 + [0, 1, 2, 4, 5, 6], np.int64),
        LABELS,
        np.asarray([""] * 66),
        np.asarray(["S1"] * 66),
        [f"r{i}" for i in range(66)],
        [],
        [],
    )
    assert training_warnings(big) == [
        "Unbalanced classes: 60 'happy' images but only 1 'angry' (60×); accuracy "
        "will favour the large classes."
    ]


def test_class_count_names_classes_without_images():
    assert class_count_text(_ds()) == "7"
    assert class_count_text(_ds(missing=(6,))) == "6 of 7 (no 'neutral' images)"
    assert class_count_text(_ds(missing=(1, 2))) == "5 of 7 (no 'disgust', 'fear' images)"
    assert missing_classes(_ds(missing=(1, 2))) == ["disgust", "fear"]


# ------------------------------------------------------------------------------ classes a run trains
def test_a_run_trains_only_the_classes_that_have_images():
    ds = _ds(missing=(2, 6), n_subjects=4)  # no fear, no neutral
    out, dropped = without_empty_classes(ds)
    assert dropped == ("fear", "neutral")
    assert out.label_names == ("angry", "disgust", "happy", "sad", "surprise")
    # the same images, labels re-indexed in order: every image keeps its class name
    assert [out.label_names[i] for i in out.labels] == [ds.label_names[i] for i in ds.labels]
    assert len(out) == len(ds) and out.fingerprint == ds.fingerprint
    # folds are unchanged by the re-indexing (same images on each side)
    for name in ("kfold-4", "subject-4fold", "holdout-25"):
        a, b = get_protocol(name).folds(ds, seed=0), get_protocol(name).folds(out, seed=0)
        assert all(
            np.array_equal(x.test_idx, y.test_idx) and np.array_equal(x.train_idx, y.train_idx)
            for x, y in zip(a, b, strict=True)
        )
    full = _ds()
    assert without_empty_classes(full) == (full, ())
    # soft labels lose the dropped columns and still sum to 1
    soft = np.full((len(ds), 7), 1 / 7, np.float32)
    out2, _ = without_empty_classes(dataclasses.replace(ds, soft_labels=soft))
    assert out2.soft_labels.shape == (len(ds), 5) and np.allclose(out2.soft_labels.sum(1), 1)


# ------------------------------------------------------------------------------ baselines
def _cm(rows):
    return np.asarray(rows, np.int64)


def test_baselines_from_the_test_folds():
    labels = ("angry", "happy", "sad")
    # fold 1: 6 happy of 10, model right on 7; fold 2: 5 happy of 10, model right on 4
    f1 = _cm([[1, 1, 0], [1, 5, 0], [0, 1, 1]])
    f2 = _cm([[2, 1, 0], [2, 2, 1], [0, 1, 1]])
    b = run_baselines([f1, f2], labels)
    assert b.accuracy == pytest.approx((0.7 + 0.5) / 2)
    assert b.majority == pytest.approx((0.6 + 0.5) / 2) and b.majority_class == "happy"
    assert b.chance == pytest.approx(1 / 3) and b.best == pytest.approx(0.55)
    assert b.beaten and b.warning() == "" and not b.collapsed
    assert b.summary() == "always 'happy' (majority class) 55.0 %, chance 33.3 %"
    assert b.to_dict()["beaten"] is True
    assert run_baselines([], labels) is None and run_baselines([_cm([[0, 0], [0, 0]])], ("a", "b")) is None


def test_a_model_that_answers_one_class_does_not_beat_the_baselines():
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise")
    # the CK+48 case: one class predicted for every image
    cm = np.zeros((6, 6), np.int64)
    cm[:, 1] = [27, 42, 18, 30, 18, 51]
    b = run_baselines([cm], labels)
    assert b.accuracy == pytest.approx(42 / 186) and b.majority == pytest.approx(51 / 186)
    assert not b.beaten and b.collapsed and b.top_prediction == "disgust" and b.top_prediction_share == 1.0
    w = b.warning()
    assert "not above always answering the most frequent class (27.4 %)" in w
    assert "answers 'disgust' for 100 % of the test images" in w
    # equal to the baseline is not above it
    tie = _cm([[5, 0], [5, 0]])
    assert not run_baselines([tie], ("a", "b")).beaten


def test_result_baselines_reads_the_tested_folds():
    from ferapp.train.evaluate import metrics_from_confusion

    labels = ("a", "b")
    tested = SimpleNamespace(test=metrics_from_confusion(_cm([[3, 1], [0, 4]]), labels))
    untested = SimpleNamespace(test=None)
    b = result_baselines(SimpleNamespace(folds=[tested, untested]))
    assert b.accuracy == pytest.approx(7 / 8) and b.beaten
    assert result_baselines(SimpleNamespace(folds=[untested])) is None


# ------------------------------------------------------------------------------ protocol warnings
def test_a_protocol_that_is_not_subject_independent_warns_when_subjects_are_known():
    ds = _ds(n_subjects=4)
    for name in ("p2", "kfold-3", "holdout-20"):
        plan = plan_protocol(ds, name)
        assert plan.ok and "not subject-independent" in plan.warning and name in plan.warning
    assert plan_protocol(ds, "subject-3fold").warning == ""
    assert plan_protocol(_ds(n_subjects=0), "kfold-3").warning == ""  # no ids: nothing better exists


# ------------------------------------------------------------------------------ a folder holding a dataset
def _zip_of_images(path: Path) -> Path:
    import zipfile

    import cv2

    ok, png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("CK+48/happy/S010_001_00000001.png", png.tobytes())
    return path


def test_a_folder_holding_one_archive_is_read_as_that_archive(tmp_path):
    folder = tmp_path / "ckplus48"
    folder.mkdir()
    z = _zip_of_images(folder / "CK+48.zip")
    (folder / "README.txt").write_text("from the CK+ site")
    found = locate_dataset(folder)
    assert found.path == z and found.candidates == (z,)
    assert found.note == f"{folder} holds no image files; reading CK+48.zip, the only dataset in it"
    # a file, or a folder with images, is read as given
    assert locate_dataset(z) == LocatedDataset(z)
    imgs = tmp_path / "imgs" / "happy"
    imgs.mkdir(parents=True)
    (imgs / "a.png").write_bytes(b"x")
    (imgs.parent / "other.zip").write_bytes(z.read_bytes())
    assert locate_dataset(imgs.parent) == LocatedDataset(imgs.parent)
    # nothing usable: left to the reader (which says "no image files found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.zip").write_text("not a zip")
    assert locate_dataset(empty) == LocatedDataset(empty)
    # a FIFO named like a dataset is never opened (it would block the wizard's loader for ever)
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.zip")
        os.mkfifo(folder / "pipe.csv")
        assert locate_dataset(folder).path == z


def test_a_folder_holding_several_datasets_names_them(tmp_path):
    root = tmp_path / "datasets"
    (root / "ckplus48").mkdir(parents=True)
    (root / "fer2013").mkdir()
    z = _zip_of_images(root / "ckplus48" / "CK+48.zip")
    csv = root / "fer2013" / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    (root / "fer2013" / "other.csv").write_text("a,b\n1,2\n")  # not a FER2013 csv
    with pytest.raises(AmbiguousDataset) as e:
        locate_dataset(root)
    assert e.value.candidates == (z, csv)
    assert str(e.value) == (
        f"no image files in {root}, but 2 datasets: ckplus48/CK+48.zip, fer2013/fer2013.csv; "
        "choose one of them"
    )
    assert find_datasets(root) == (z, csv)


def test_cli_reads_the_archive_in_a_folder(tmp_path, capsys, monkeypatch):
    from ferapp.data.cli import main as data_main

    folder = tmp_path / "ckplus48"
    folder.mkdir()
    _zip_of_images(folder / "CK+48.zip")
    assert data_main(["data", "inspect", str(folder), "--cache-dir", str(tmp_path / "cache")]) == 0
    out, err = capsys.readouterr()
    assert "format: ckplus48" in out and "samples: 1" in out
    assert "reading CK+48.zip, the only dataset in it" in err
    # `ferapp train --data` / `ferapp eval --data` read their data through the same rule
    from ferapp.train.commands import _load_data

    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))
    assert _load_data(str(folder), "auto").report.format == "ckplus48"
    assert "reading CK+48.zip, the only dataset in it" in capsys.readouterr().err


def test_train_prints_the_baselines_and_warns_below_them(capsys):
    from ferapp.train.commands import _print_baselines
    from ferapp.train.evaluate import metrics_from_confusion

    labels = ("angry", "happy")
    weak = SimpleNamespace(
        folds=[SimpleNamespace(test=metrics_from_confusion(_cm([[0, 3], [0, 7]]), labels))],
        notes=["no images of neutral: the model has no output for it and never predicts it"],
    )
    _print_baselines(weak)
    out, err = capsys.readouterr()
    assert "baselines: always 'happy' (majority class) 70.0 %, chance 50.0 %" in out
    assert "note: no images of neutral" in out
    assert err.startswith(
        "warning: Accuracy 70.0 % is not above always answering the most frequent class (70.0 %)"
    )
    good = SimpleNamespace(
        folds=[SimpleNamespace(test=metrics_from_confusion(_cm([[3, 0], [1, 6]]), labels))], notes=[]
    )
    _print_baselines(good)
    out, err = capsys.readouterr()
    assert "baselines:" in out and err == ""


# ------------------------------------------------------------------------------ where a figure was measured
def test_every_accuracy_names_its_dataset_and_protocol():
    shipped = {"privatetest_acc": 0.6949, "metrics": {"privatetest_acc": 0.6949}}
    assert model_score(shipped) == (pytest.approx(0.6949), "FER2013 PrivateTest")
    ck = {
        "metrics": {"accuracy": 0.841, "protocol": "p1-ck"},
        "dataset": {"format": "ckplus48", "path": "/d/CK+48.zip"},
        "protocol": {"name": "p1-ck"},
    }
    assert model_score(ck) == (pytest.approx(0.841), "CK+48 subject 5-fold")
    kfold = {
        "metrics": {"accuracy": 0.9},
        "protocol": {"name": "kfold-5"},
        "dataset": {"format": "image-folders", "path": "/x/my_faces.zip"},
    }
    assert model_score(kfold) == (pytest.approx(0.9), "my_faces 5-fold")
    assert model_score(
        {"metrics": {"accuracy": 0.5, "protocol": "official"}, "dataset": {"format": "fer2013-csv"}}
    ) == (0.5, "FER2013 PrivateTest")
    assert model_score({"accuracy": 0.5, "protocol": "holdout-20", "dataset": {"format": "jaffe"}}) == (
        0.5,
        "JAFFE 20% hold-out",
    )
    assert model_score({}) == (None, "") and model_score(None) == (None, "")
    assert protocol_name("p2") == "10-fold" and protocol_name("official", "KDEF") == "test split"
    assert dataset_name("ckplus48") == "CK+48" and dataset_name(None, "/a/b/c!x/y.png") == "c"


def test_dropdown_text_names_the_scale_and_flags_a_model_below_its_baselines():
    from ferapp.gui.models import accuracy_text, short_metrics, weak_reason

    def entry(meta):
        return SimpleNamespace(meta=meta, accuracy=None)

    shipped = entry({"privatetest_acc": 0.6949, "latency_ms": 5.79})
    assert short_metrics(shipped) == "69.5% FER2013 PrivateTest · 5.8 ms" and weak_reason(shipped) == ""
    weak = entry(
        {
            "metrics": {"accuracy": 0.191, "protocol": "p1-ck"},
            "dataset": {"format": "ckplus48"},
            "baselines": {"accuracy": 0.191, "majority": 0.269, "chance": 1 / 6, "beaten": False},
        }
    )
    assert short_metrics(weak) == "19.1% CK+48 subject 5-fold · below baseline"
    assert weak_reason(weak) == (
        "its accuracy (19.1%) is not above the majority-class (26.9%) and chance "
        "(16.7%) baselines of its test data"
    )
    assert accuracy_text(weak) == "accuracy 19.10% on CK+48 subject 5-fold"
    good = entry(
        {
            "metrics": {"accuracy": 0.84, "protocol": "p1-ck"},
            "dataset": {"format": "ckplus48"},
            "baselines": {"beaten": True},
        }
    )
    assert short_metrics(good) == "84.0% CK+48 subject 5-fold" and weak_reason(good) == ""


def test_load_hint_names_every_readable_layout():
    from ferapp.data import describe_format, list_formats

    hint = load_hint("DatasetError: nothing found")
    assert "sub-folder per expression" in hint and "emotion,pixels,Usage" in hint
    assert all(describe_format(f) in hint for f in list_formats())


# ------------------------------------------------------------------------------ model names
@pytest.mark.parametrize(
    "name, ok",
    [
        ("cc_lenet5_CKp48", True),
        ("a", True),
        ("9lives.v2-final", True),
        ("x" * 64, True),
        ("  padded  ", True),
        ("", False),
        ("   ", False),
        ("bad/name", False),
        (".hidden", False),
        ("_x", False),
        ("x" * 65, False),
        ("with space", False),
        ("ümlaut", False),
    ],
)
def test_model_name_rule(name, ok):
    err = model_name_error(name)
    assert (err == "") is ok
    assert bool(NAME_RE.match(name.strip())) is ok
    if not ok:
        assert err == (
            "Give the model a name."
            if not name.strip()
            else "Use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64)."
        )


def test_suggested_model_name():
    assert suggest_model_name("cc_lenet5", "/data/CK+48") == "cc_lenet5_CKp48"
    assert suggest_model_name("resnet20", "/data/fer2013.csv") == "resnet20_fer2013"
    assert suggest_model_name("resnet20", None) == "resnet20_data"
    assert suggest_model_name("bdnn2", "/x/my set (v2).zip") == "bdnn2_my_set__v2_"
    assert model_name_error(suggest_model_name("bdnn2", "/x/my set (v2).zip")) == ""


# ------------------------------------------------------------------------------ progress and ETA
def test_run_progress_counts_eta_and_status():
    p = RunProgress()
    assert p.total_batches() == 1 and p.permille(0) == 0 and p.eta_s(0, 5.0) is None
    p.t0 = 100.0
    p.fold_started("kfold-3/fold1", 0, 3)
    p.epoch_started(0, 4, 10)
    assert p.total_batches() == 120
    assert p.permille(30) == 250 and p.permille(120) == 1000 and p.permille(500) == 1000
    assert p.eta_s(30, 130.0) == pytest.approx(90.0)  # 1 s per batch, 90 batches left
    assert p.status(30, 130.0) == "Fold 1/3 (kfold-3/fold1) · epoch 1/4 · 30/120 batches · ETA 1:30"
    p.last_loss = 1.23456
    p.fold_started("kfold-3/fold2", 1, 3)
    p.epoch_started(2, 4, 10)
    assert (
        p.status(90, 190.0) == "Fold 2/3 (kfold-3/fold2) · epoch 3/4 · 90/120 batches · loss 1.235 · ETA 0:30"
    )
    # more batches than planned (a fold with more batches than the first): never over 100 %, ETA 0
    assert p.status(130, 230.0).endswith("130/130 batches · loss 1.235 · ETA 0:00")
    p.last_loss = math.nan
    assert "loss" not in p.status(10, 110.0)
    # no start time yet: elapsed counts as 0
    assert RunProgress(folds=1, epochs=1, batches_per_epoch=4).eta_s(2, 50.0) == 0.0


def test_format_eta():
    assert format_eta(None) == format_eta(math.nan) == format_eta(-1) == format_eta(math.inf) == "–"
    assert format_eta(0) == "0:00" and format_eta(59.6) == "1:00" and format_eta(61) == "1:01"
    assert format_eta(3600) == "1:00:00" and format_eta(3 * 3600 + 62) == "3:01:02"


def test_training_hint_from_the_error_text():
    assert "lower the batch size" in training_hint("CUDA out of memory. Tried to allocate 2 GiB")
    assert "lower the batch size" in training_hint(
        "DefaultCPUAllocator: can't allocate memory: cannot allocate"
    )
    assert "needs subject ids" in training_hint("protocol subject-5fold needs a subject id for every sample")
    assert "too few images" in training_hint("need at least 2 samples")
    assert "choose the CPU" in training_hint("CUDA error: device-side assert triggered")
    assert "checkpoints listed below are kept" in training_hint("ValueError: something else")


def test_checkpoints_of_lists_existing_files_once(tmp_path):
    out = tmp_path / "run"
    (out / "fold1").mkdir(parents=True)
    (out / "fold2").mkdir()
    last1, best1, last2 = out / "fold1" / "last.pt", out / "fold1" / "best.pt", out / "fold2" / "last.pt"
    for p in (last1, best1, last2):
        p.write_bytes(b"x")
    fit = SimpleNamespace(last_checkpoint=str(last1), best_checkpoint=str(out / "fold1" / "gone.pt"))
    res = SimpleNamespace(folds=[SimpleNamespace(fit=fit)], out_dir=str(out))
    assert checkpoints_of(res) == [str(last1), str(best1), str(last2)]
    assert checkpoints_of(SimpleNamespace(folds=None, out_dir=None)) == []
    assert checkpoints_of(SimpleNamespace(folds=[], out_dir=str(tmp_path / "nope"))) == []


# ------------------------------------------------------------------------------ paper numbers
def test_paper_accuracies_skip_parameter_counts_and_timings():
    reported = {
        "params": 25476,
        "JAFFE 3-fold": 94.37,
        "CK+ 5-fold": 83.74,
        "s_per_step": 0.05,
        "paper_input_size": [128, 128],
    }
    assert paper_accuracies(reported) == [("JAFFE 3-fold", 94.37), ("CK+ 5-fold", 83.74)]
    assert paper_accuracies({}) == []


# ------------------------------------------------------------------------------ a run without a class
def test_a_run_on_data_without_a_class_has_no_output_for_it(tmp_path):
    """7 label names, no 'neutral' image: the model gets 6 outputs (a 7th would never be trained
    and an under-trained net predicts it wherever its random start puts it), and it is reported."""
    import json

    from ferapp.train.run import run_training
    from ferapp.zoo.io import load_model_dir

    labels = np.repeat(np.arange(6), 6).astype(np.int64)  # angry..surprise, 6 images each
    rng = np.random.default_rng(0)
    ds = make_dataset(
        "ckplus48",
        "/d/CK+48",
        rng.integers(0, 255, (len(labels), 32, 32), dtype=np.uint8),
        labels,
        LABELS,
        np.asarray([""] * len(labels)),
        np.asarray([f"S{i % 3}" for i in range(len(labels))]),
        [f"r{i}" for i in range(len(labels))],
        [],
        [],
    )
    res = run_training(
        "lenet5",
        ds,
        "holdout-34",
        overrides={"epochs": 1, "num_threads": 1, "lr": 1e-6},
        out_dir=tmp_path / "run",
    )
    assert res.outcome == "finished", res.message + res.traceback
    test = res.folds[0].test
    assert (
        test.labels == LABELS[:6]
        and test.confusion.shape == (6, 6)
        and "neutral" not in test.per_class_accuracy
    )
    assert any("no images of neutral" in n for n in res.notes)
    report = json.loads(Path(res.report_path).read_text())
    assert report["labels"] == list(LABELS[:6]) and report["baselines"]["n_classes"] == 6
    saved = load_model_dir(res.best_model_dir)
    assert tuple(saved.cfg.labels) == LABELS[:6] and saved.meta["baselines"]["beaten"] in (True, False)
    card = (Path(res.best_model_dir) / "README.md").read_text()  # the model card says both
    assert "Baselines on the same test images: always" in card and "note: no images of neutral" in card


def test_a_class_a_fold_never_trained_is_never_predicted_in_that_fold():
    """The fold-level case: 'fear' has test images but no training image in this fold; even a
    network whose output favours it must not predict it (its logit is masked)."""
    import torch

    from ferapp.train.run import _evaluate_encoded
    from ferapp.train.trainer import EncodedSet

    labels = ("angry", "fear", "happy")
    logits = torch.tensor([[0.0, 5.0, 1.0], [2.0, 5.0, 0.0], [0.0, 5.0, 3.0]])
    trainer = SimpleNamespace(predict=lambda x: logits)
    test = EncodedSet(torch.zeros(3, 1, 4, 4), torch.tensor([2, 0, 1]), labels)
    unmasked = _evaluate_encoded(trainer, test, labels)
    assert unmasked.confusion[:, 1].sum() == 3  # the favoured untrained class takes every image
    res = _evaluate_encoded(trainer, test, labels, seen=np.array([True, False, True]))
    assert res.confusion[:, 1].sum() == 0 and res.accuracy == pytest.approx(2 / 3)
    assert res.per_class_accuracy["fear"] == 0.0  # its test image counts as an error
