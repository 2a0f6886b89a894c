"""The training wizard's domain logic, without Qt: protocol planning (and its cache), the default
protocol, dataset warnings, model-name rules, run progress / ETA, hints and checkpoints."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ferapp.data.assemble import make_dataset
from ferapp.data.planning import (
    BASIC_PROTOCOLS,
    FALLBACK_PROTOCOLS,
    ProtocolPlan,
    ProtocolPlanner,
    choose_protocol,
    paper_protocols,
    plan_protocol,
)
from ferapp.data.protocols import get_protocol
from ferapp.data.summary import load_hint, training_warnings
from ferapp.labels import LABELS
from ferapp.train.card import paper_accuracies
from ferapp.train.progress import RunProgress, checkpoints_of, format_eta, training_hint
from ferapp.zoo.names import NAME_RE, model_name_error, suggest_model_name


def _ds(n_subjects: int = 4, per_class: int = 8, skipped=(), warnings=(), missing: tuple[int, ...] = (),
        path: str = "/data/CK+48"):
    """7 classes x ``per_class`` images spread over ``n_subjects`` subjects (0: no subject ids)."""
    labels = np.repeat([c for c in range(7) if c not in missing], per_class).astype(np.int64)
    n = len(labels)
    subjects = np.asarray([f"S{i % n_subjects:03d}" if n_subjects else "" for i in range(n)], dtype=str)
    return make_dataset("test", path, np.zeros((n, 4, 4), np.uint8), labels, LABELS, np.asarray([""] * n),
                        subjects, [f"row:{i}" for i in range(n)], list(warnings), list(skipped))


# ------------------------------------------------------------------------------ protocol planning
def test_plan_describes_the_folds_of_a_protocol_that_fits():
    ds = _ds()
    plan = plan_protocol(ds, " kfold-4 ", seed=0)
    folds = get_protocol("kfold-4").folds(ds, seed=0)
    assert plan.ok and plan.error == "" and plan.name == "kfold-4"
    assert plan.description == get_protocol("kfold-4").describe()
    assert (plan.n_folds, plan.n_train, plan.n_val, plan.n_test) == (
        4, len(folds[0].train_idx), len(folds[0].val_idx), len(folds[0].test_idx))
    assert plan.summary == (f"4 fold(s); fold 1: {plan.n_train} train / {plan.n_val} val / "
                            f"{plan.n_test} test images")
    assert plan.n_train + plan.n_val + plan.n_test == len(ds)


def test_plan_says_why_a_protocol_cannot_run():
    ds = _ds(n_subjects=4)
    unknown = plan_protocol(ds, "nonsense")
    assert not unknown.ok and "unknown protocol" in unknown.error and unknown.n_folds == 0
    assert "k must be at least 2" in plan_protocol(ds, "kfold-1").error
    too_many = plan_protocol(ds, "subject-10fold")
    assert too_many.error == ("subject-10fold does not fit this dataset: protocol subject-10fold needs at least "
                              "10 subjects, dataset has 4")
    no_ids = plan_protocol(_ds(n_subjects=0), "subject-3fold")
    assert no_ids.error.startswith("subject-3fold does not fit this dataset:") and "subject id" in no_ids.error
    assert "no official split" in plan_protocol(ds, "official").error
    assert plan_protocol(ds, "holdout-25").ok
    # a fold without test images: 1 % of 7 images
    tiny = plan_protocol(_ds(per_class=1), "holdout-1")
    assert tiny.error == ("holdout-1: fold 1 has 7 training and 0 test images; choose fewer folds or another "
                          "protocol")


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
    assert sum("missing classes" in x for x in w) == 1 and "fear" in next(x for x in w if "missing" in x)
    assert ("5 file(s) skipped: bad0.png (unreadable image), bad1.png (unreadable image), "
            "bad2.png (unreadable image) and 2 more") in w
    assert w[-1].startswith("no subject ids: subject-independent protocols")
    clean = _ds(n_subjects=4)
    assert training_warnings(clean) == []
    two = _ds(skipped=skipped[:2])
    assert training_warnings(two) == ["2 file(s) skipped: bad0.png (unreadable image), bad1.png (unreadable image)"]


def test_load_hint_names_every_readable_layout():
    from ferapp.data import describe_format, list_formats

    hint = load_hint("DatasetError: nothing found")
    assert "sub-folder per expression" in hint and "emotion,pixels,Usage" in hint
    assert all(describe_format(f) in hint for f in list_formats())


# ------------------------------------------------------------------------------ model names
@pytest.mark.parametrize("name, ok", [
    ("cc_lenet5_CKp48", True), ("a", True), ("9lives.v2-final", True), ("x" * 64, True), ("  padded  ", True),
    ("", False), ("   ", False), ("bad/name", False), (".hidden", False), ("_x", False), ("x" * 65, False),
    ("with space", False), ("ümlaut", False),
])
def test_model_name_rule(name, ok):
    err = model_name_error(name)
    assert (err == "") is ok
    assert bool(NAME_RE.match(name.strip())) is ok
    if not ok:
        assert err == ("Give the model a name." if not name.strip() else
                       "Use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64).")


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
    assert p.status(90, 190.0) == "Fold 2/3 (kfold-3/fold2) · epoch 3/4 · 90/120 batches · loss 1.235 · ETA 0:30"
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
    assert "lower the batch size" in training_hint("DefaultCPUAllocator: can't allocate memory: cannot allocate")
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
    reported = {"params": 25476, "JAFFE 3-fold": 94.37, "CK+ 5-fold": 83.74, "s_per_step": 0.05,
                "paper_input_size": [128, 128]}
    assert paper_accuracies(reported) == [("JAFFE 3-fold", 94.37), ("CK+ 5-fold", 83.74)]
    assert paper_accuracies({}) == []


# ------------------------------------------------------------------------------ no Qt
def test_the_wizard_logic_imports_no_qt():
    mods = ["ferapp.data.planning", "ferapp.data.summary", "ferapp.train.progress", "ferapp.zoo.names",
            "ferapp.train.card"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph') "
              "or m.startswith('ferapp.gui'))\nprint(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
