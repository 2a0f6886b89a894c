"""The training wizard driven end to end (pytest-qt, offscreen) on a tiny generated CK+48 folder.

Real engine, real threads: the dataset is read by ``load_dataset`` on a worker, ``cc_lenet5``
trains for 2 epochs per fold with ``run_training`` on the wizard's training thread, the model is
saved to a user model store under tmp_path and must then appear in a real ``MainWindow``.
Synchronisation with the training thread uses Events set from engine callbacks, never timings.
Set FERAPP_WIZARD_SCREENSHOTS=1 to also write resources/screenshots/wizard_*.png.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QWizard

from ferapp.train.callbacks import Callback

pytestmark = pytest.mark.gui

WAIT = 240_000  # ms; generous for 2 shared cores; never a timing assertion
CLASSES = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")  # CK+48-style folder names
CANON = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SUBJECTS, FRAMES = 4, 2  # 7 classes x 8 images, 4 subjects
SHOTS = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def _face(k: int, rng: np.random.Generator) -> np.ndarray:
    """A 48x48 cartoon face whose mouth / brows / eyes depend on the class k (learnable, looks like a face)."""
    import cv2

    im = np.full((48, 48), 40, np.uint8)
    cx, cy = 24 + int(rng.integers(-2, 3)), 25 + int(rng.integers(-2, 3))
    cv2.ellipse(im, (cx, cy), (17, 21), 0, 0, 360, 185, -1)
    eye = 2 + (k == 5) * 2 + (k == 2)
    for dx in (-7, 7):
        cv2.circle(im, (cx + dx, cy - 5), eye, 30, -1)
        tilt = {0: 3, 4: -3, 2: -2}.get(k, 0) * (1 if dx < 0 else -1)
        cv2.line(im, (cx + dx - 4, cy - 11 - tilt), (cx + dx + 4, cy - 11 + tilt), 50, 1)
    my = cy + 9
    if k == 3:  # happy: smile
        cv2.ellipse(im, (cx, my - 2), (8, 5), 0, 10, 170, 30, 2)
    elif k in (0, 4):  # angry / sad: frown
        cv2.ellipse(im, (cx, my + 4), (7, 4 + (k == 4) * 2), 0, 190, 350, 30, 2)
    elif k == 5:  # surprise: open mouth
        cv2.ellipse(im, (cx, my + 1), (4, 6), 0, 0, 360, 30, -1)
    elif k == 1:  # disgust: skewed mouth
        cv2.line(im, (cx - 7, my + 2), (cx + 6, my - 2), 30, 2)
    elif k == 2:  # fear: wide flat mouth
        cv2.rectangle(im, (cx - 8, my), (cx + 8, my + 3), 30, -1)
    else:  # neutral
        cv2.line(im, (cx - 6, my + 1), (cx + 6, my + 1), 30, 2)
    return np.clip(im + rng.normal(0, 10, im.shape), 0, 255).astype(np.uint8)


def make_ck48(root: Path, broken: bool = True, skip: tuple[str, ...] = ()) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    for k, cls in enumerate(CLASSES):
        if cls in skip:
            continue
        d = root / cls
        d.mkdir(parents=True)
        for s in range(SUBJECTS):
            for f in range(FRAMES):
                cv2.imwrite(str(d / f"S{10 + s:03d}_{k + 1:03d}_{f + 1:08d}.png"), _face(k, rng))
    if broken:  # one unreadable file: the page must list it as skipped
        (root / "happy" / "S099_004_00000001.png").write_bytes(b"not a png")
    return root


@pytest.fixture
def ck48(tmp_path) -> Path:
    return make_ck48(tmp_path / "CK+48")


def new_wizard(qtbot, dataset=None, parent=None):
    from ferapp.gui.wizard import TrainingWizard

    wiz = TrainingWizard(parent, dataset_path=str(dataset) if dataset else None)
    if parent is None:
        qtbot.addWidget(wiz)
    wiz.show()
    if dataset:
        qtbot.waitUntil(lambda: wiz.dataset_page.isComplete(), timeout=WAIT)
    return wiz


def to_settings(wiz, arch="cc_lenet5", protocol="subject-3fold", epochs=2, batch=16):
    wiz.next()
    assert wiz.currentPage() is wiz.model_page
    assert wiz.model_page.select(arch)
    wiz.next()
    s = wiz.settings_page
    assert wiz.currentPage() is s
    s.protocol.setCurrentText(protocol)
    s.epochs.setValue(epochs)
    s.batch_size.setValue(batch)
    s.lr.setValue(0.02)
    s.threads.setValue(1)
    assert s.isComplete(), (s.protocol_info.text(), s.name_info.text())
    return s


class Gate(Callback):
    """On the training thread: at the first batch, set ``reached`` and block until ``release`` (max 120 s)."""

    def __init__(self, wait_for=None):
        self.reached, self.release = threading.Event(), threading.Event()
        self.wait_for = wait_for  # optional predicate polled instead of the release Event
        self.released_ok: bool | None = None
        self.thread_name = ""

    def on_batch_end(self, step, loss):
        if self.reached.is_set():
            return
        self.thread_name = threading.current_thread().name
        self.reached.set()
        if self.wait_for is None:
            self.released_ok = self.release.wait(120)
        else:
            ok = False
            for _ in range(1200):
                if self.wait_for():
                    ok = True
                    break
                self.release.wait(0.1)
            self.released_ok = ok


def shoot(widget, name: str, tmp_path: Path) -> Path:
    out = (SHOTS if os.environ.get("FERAPP_WIZARD_SCREENSHOTS") == "1" else tmp_path) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(out))
    return out


# ------------------------------------------------------------------------------ pages 1-3
def test_dataset_page_bad_path_then_summary(qtbot, tmp_path, ck48):
    wiz = new_wizard(qtbot)
    page = wiz.dataset_page
    assert not page.isComplete()
    page.load(str(tmp_path / "nope"))
    qtbot.waitUntil(lambda: page.error_label.isVisible() and not page.loader.busy, timeout=WAIT)
    assert (
        "does not exist" in page.error_label.text() and "sub-folder per expression" in page.error_label.text()
    )
    assert not page.isComplete() and page.dataset is None
    empty = tmp_path / "empty"
    empty.mkdir()
    page.load(str(empty))
    qtbot.waitUntil(lambda: page.error_label.isVisible() and not page.loader.busy, timeout=WAIT)
    assert not page.isComplete()

    page.load(str(ck48))
    qtbot.waitUntil(page.isComplete, timeout=WAIT)
    assert not page.error_label.isVisible()
    ds = page.dataset
    assert len(ds) == len(CLASSES) * SUBJECTS * FRAMES and ds.report.num_subjects == SUBJECTS
    assert (
        "ckplus48" in page.summary_label.text()
        and f"<b>Subjects:</b> {SUBJECTS}" in page.summary_label.text()
    )
    t = page.counts_table
    assert t.rowCount() == len(ds.label_names) == 7
    rows = {t.verticalHeaderItem(i).text(): int(t.item(i, 0).text()) for i in range(t.rowCount())}
    assert rows == {c: SUBJECTS * FRAMES for c in CANON}
    thumbs = [page.thumbs_layout.itemAt(i).widget() for i in range(page.thumbs_layout.count())]
    pixmaps = [w for w in thumbs if w.pixmap() is not None and not w.pixmap().isNull()]
    assert len(pixmaps) == 7 * min(6, SUBJECTS * FRAMES)
    assert page.warnings_label.isVisible() and "S099_004_00000001.png" in page.warnings_label.text()
    assert "skipped" in page.warnings_label.text()
    # a class without images: warned about, red count, "no images" instead of thumbnails
    page.load(str(make_ck48(tmp_path / "no_fear", broken=False, skip=("fear",))))
    qtbot.waitUntil(page.isComplete, timeout=WAIT)
    assert "No 'fear' images: the model is built without that class" in page.warnings_label.text()
    assert "Classes:</b> 6 of 7 (no 'fear' images)" in page.summary_label.text()
    row = [t.verticalHeaderItem(i).text() for i in range(t.rowCount())].index("fear")
    assert t.item(row, 0).text() == "0" and t.item(row, 0).foreground().color().name() == "#b00020"
    texts = [page.thumbs_layout.itemAt(i).widget().text() for i in range(page.thumbs_layout.count())]
    assert "no images" in texts


def test_model_page_lists_every_architecture_with_paper_facts(qtbot):
    from ferapp.zoo import create_model, get_model_cfg, list_models
    from ferapp.zoo.flops import count_params

    wiz = new_wizard(qtbot)
    mp = wiz.model_page
    assert [mp.list.item(i).data(0x0100) for i in range(mp.list.count())] == list_models()
    assert mp.arch == "cc_lenet5"
    text = mp.details.text()
    assert f"{count_params(create_model('cc_lenet5')):,}" in text
    assert (
        "83.74" in text and "94.37" in text and "32×32" in text and get_model_cfg("cc_lenet5").paper in text
    )
    assert mp.select("resnet20")
    text2 = mp.details.text()
    assert "resnet20" in text2 and "89.48" not in text2 and "86.77" in text2


def test_settings_prefilled_from_paper_recipe_and_validated(qtbot, ck48):
    from ferapp.zoo import get_recipe

    wiz = new_wizard(qtbot, ck48)
    wiz.next()
    wiz.next()
    s = wiz.settings_page
    r = get_recipe("cc_lenet5")
    assert (s.epochs.value(), s.batch_size.value(), s.optimizer.currentText(), s.schedule.currentText()) == (
        r.epochs,
        r.batch_size,
        r.optimizer,
        r.schedule,
    )
    assert s.lr.value() == pytest.approx(r.lr)
    # P1's presets: p1-ck (subject-5fold) needs more than 4 subjects, so p1-jaffe (kfold-3) is preselected
    assert (
        s.protocol.currentText() == "p1-jaffe"
        and s.paper_protocol_fits
        and "3 fold(s)" in s.protocol_info.text()
    )
    assert s.protocol_error("p1-ck")
    assert "p1-ck" in [s.protocol.itemText(i) for i in range(s.protocol.count())]
    assert [s.protocol.itemText(i) for i in range(s.protocol.count())][:3] == [
        "official",
        "kfold-5",
        "subject-5fold",
    ]
    assert s.name_edit.text() == "cc_lenet5_CKp48" and s.isComplete()
    o = s.overrides()
    assert o["epochs"] == r.epochs and o["augment"] == ("mirror",) and o["device"] in ("cpu", "cuda")
    # validation: a bad protocol, a protocol that needs more subjects, a bad name
    s.protocol.setCurrentText("nonsense")
    assert not s.isComplete() and "unknown protocol" in s.protocol_info.text()
    s.protocol.setCurrentText("subject-10fold")
    assert not s.isComplete() and s.protocol_info.text()
    s.protocol.setCurrentText("holdout-25")
    assert s.isComplete() and "fold 1:" in s.protocol_info.text()
    # typing a protocol and pressing Enter checks it at once, adds nothing to the list and does not
    # press Next (which would start a training run)
    n = s.protocol.count()
    s.protocol.lineEdit().selectAll()
    qtbot.keyClicks(s.protocol.lineEdit(), "kfold-3")
    qtbot.keyClick(s.protocol.lineEdit(), Qt.Key.Key_Return)
    assert s.protocol.count() == n and s.protocol.currentText() == "kfold-3"
    assert s.isComplete() and "3 fold(s)" in s.protocol_info.text()
    assert wiz.currentPage() is s
    s.name_edit.setText("bad/name")
    assert not s.isComplete() and "letters" in s.name_info.text()
    s.name_edit.setText("ok_name")
    assert s.isComplete()
    # algorithm-specific fields follow the model
    wiz.back()
    wiz.model_page.select("dsc_se_resnet")
    wiz.next()
    assert s.loss.currentText() == "ce+center" and s.center_weight.isEnabled()
    assert s.center_weight.value() == pytest.approx(0.01) and not s.hsic_beta.isEnabled()
    assert s.augment["rotate"].isChecked() and s.overrides()["center_weight"] == pytest.approx(0.01)
    wiz.back()
    wiz.model_page.select("hsic_densenet")
    wiz.next()
    assert s.hsic_beta.isEnabled() and s.overrides()["hsic_beta"] == pytest.approx(100.0)
    wiz.back()
    wiz.model_page.select("bdnn2")
    wiz.next()
    assert s.five_crop.isEnabled() and s.overrides()["five_crop"] == "random"
    assert "hsic_beta" not in s.overrides() and "center_weight" not in s.overrides()  # not this model's knobs
    # the form is the schema's: the same choices as `ferapp train` and recipe files
    from ferapp.train.options import OPTIONS

    for name in ("optimizer", "schedule", "loss", "five_crop"):
        w = getattr(s, name)
        assert tuple(w.itemText(i) for i in range(w.count())) == OPTIONS[name].choices
    assert "adamw" in OPTIONS["optimizer"].choices and tuple(s.augment) == OPTIONS["augment"].choices
    assert (s.epochs.minimum(), s.epochs.maximum()) == (OPTIONS["epochs"].lo, OPTIONS["epochs"].hi)
    s.optimizer.setCurrentText("adamw")
    s.augment["affine"].setChecked(True)
    assert s.overrides()["optimizer"] == "adamw" and "affine" in s.overrides()["augment"]


# ------------------------------------------------------------------------------ the whole wizard
def test_full_wizard_train_save_and_model_appears_in_main_window(qtbot, tmp_path, ck48):
    from ferapp.gui.main_window import MainWindow
    from ferapp.zoo.store import user_models_dir

    win = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[])
    qtbot.addWidget(win)
    wiz = win.open_training_wizard()  # the real Tools > Train a model… path, with its model_saved connection
    assert wiz is not None and wiz.parent() is win
    wiz.dataset_page.load(str(ck48))
    qtbot.waitUntil(wiz.dataset_page.isComplete, timeout=WAIT)
    shoot(wiz, "wizard_dataset.png", tmp_path)
    shots = os.environ.get("FERAPP_WIZARD_SCREENSHOTS") == "1"
    wiz.next()
    shoot(wiz, "wizard_model.png", tmp_path)
    wiz.back()
    epochs = 15 if shots else 2  # a longer (still tiny) run only for the published screenshot
    s = to_settings(wiz, protocol="subject-3fold", epochs=epochs, batch=8 if shots else 16)
    if shots:
        s.lr.setValue(0.05)
        s.momentum.setValue(0.9)
    shoot(wiz, "wizard_settings.png", tmp_path)

    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(10)
    # the training thread waits (at its first batch) until the GUI timer has ticked 5 more times:
    # that can only happen if the GUI thread keeps processing events while training runs
    start_ticks = []
    gate = Gate(wait_for=lambda: bool(start_ticks) and ticks[0] >= start_ticks[0] + 5)
    wiz.job.extra_callbacks = [gate]
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended:
        wiz.next()  # -> training page: starts the run
        assert wiz.currentPage() is wiz.training_page
        assert not wiz.training_page.isComplete()
        assert not wiz.button(QWizard.WizardButton.NextButton).isEnabled()
        qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
        start_ticks.append(ticks[0])
        qtbot.waitUntil(
            lambda: len(wiz.training_page.history) > 0, timeout=WAIT
        )  # an epoch ended: the page updated live
        assert wiz.job.running or wiz.training_page.result is not None
    timer.stop()
    res = ended.args[0]
    assert gate.released_ok is True and gate.thread_name == "ferapp-training"
    assert res.outcome == "finished", res.message + res.traceback
    tp = wiz.training_page
    n_epochs = sum(f.fit.epochs_completed for f in res.folds)
    assert len(res.folds) == 3 and tp.table.rowCount() == n_epochs == len(tp.history) >= 3
    assert n_epochs == 3 * epochs or shots  # (plateau10 may end a long screenshot run early)
    x, y = tp.train_curve.getData()
    assert len(x) == n_epochs and np.all(np.isfinite(y))
    assert len(tp.acc_curve.getData()[1]) == n_epochs and len(tp._fold_lines) == 2
    assert [r["fold"] for r in tp.history] == sorted(r["fold"] for r in tp.history)
    assert tp.progress.value() == 1000 and "accuracy" in tp.status_label.text()
    assert tp.isComplete() and wiz.button(QWizard.WizardButton.NextButton).isEnabled()
    shoot(wiz, "wizard_training.png", tmp_path)

    wiz.next()
    rp = wiz.results_page
    assert wiz.currentPage() is rp
    assert f"{100 * res.mean_accuracy:.1f} %" in rp.headline.text() and "±" in rp.headline.text()
    assert "83.74" in rp.paper_label.text()  # the paper's number beside ours
    assert rp.class_table.rowCount() == 7 and rp.confusion.rowCount() == rp.confusion.columnCount() == 7
    n_test = sum(f.n_test for f in res.folds)
    assert int(rp.confusion_matrix.sum()) == n_test == len(wiz.dataset)  # every image tested once
    diag = np.trace(rp.confusion_matrix) / n_test
    assert diag == pytest.approx(np.mean([f.test.accuracy * f.n_test for f in res.folds]) * 3 / n_test)
    assert set(rp.per_class) == set(CANON)
    shoot(wiz, "wizard_results.png", tmp_path)

    name = "wizard_lenet"
    rp.name_edit.setText(name)
    with qtbot.waitSignal(wiz.model_saved, timeout=WAIT) as saved:
        rp.save_button.click()
    assert saved.args == [name]
    folder = Path(user_models_dir()) / name
    cfg = json.loads((folder / "config.json").read_text())
    meta = cfg["meta"]
    assert meta["metrics"]["accuracy"] == pytest.approx(res.mean_accuracy)
    assert meta["metrics"]["protocol"] == "subject-3fold" and meta["arch"] == "cc_lenet5"
    card = (folder / "README.md").read_text()
    assert "subject-3fold" in card and "Citation" in card
    # the main window re-read its store at once, but asks before switching (default: keep the current)
    refs = [win.model_combo.itemData(i) for i in range(win.model_combo.count())]
    assert name in refs and win.model_combo.currentData() == "cc_lenet5"
    box = win.last_dialog
    assert box is not None and "Use it now" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).click()
    assert win.model_combo.currentData() == name
    tip = win.model_combo.itemData(refs.index(name), 3)  # ToolTipRole
    assert "accuracy" in tip and str(folder) in tip
    # saving twice under the same name needs 'replace'
    rp.save_button.setEnabled(True)
    assert rp.save() is None and "already exists" in rp.save_label.text()
    rp.overwrite.setChecked(True)
    assert rp.save() == folder
    # a fresh window lists it too
    win2 = MainWindow(source="demo", model=name, detector="hog", cameras=[])
    qtbot.addWidget(win2)
    assert win2.model_combo.findData(name) >= 0
    # Tools > Train a model… again: the same wizard, back at page 1 with the dataset still loaded
    wiz.close()
    assert win.open_training_wizard() is wiz
    assert wiz.currentPage() is wiz.dataset_page and wiz.dataset_page.isComplete()
    wiz.close()


def test_cancel_stops_within_one_batch_and_keeps_a_loadable_checkpoint(qtbot, tmp_path, ck48):
    import torch

    from ferapp.zoo.io import load_checkpoint

    wiz = new_wizard(qtbot, ck48)
    to_settings(wiz, protocol="holdout-25", epochs=3, batch=8)
    # one epoch runs to its end (last.pt written), then the gate holds the 2nd epoch's first batch
    gate = Gate()
    first_epoch_done = threading.Event()

    class AfterFirstEpoch(Callback):
        def on_epoch_end(self, epoch, metrics):
            first_epoch_done.set()

        def on_batch_end(self, step, loss):
            if first_epoch_done.is_set():
                gate.on_batch_end(step, loss)

    wiz.job.extra_callbacks = [AfterFirstEpoch()]
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended:
        wiz.next()
        qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
        step_at_cancel = wiz.job.batches_done
        assert not wiz.button(QWizard.WizardButton.BackButton).isEnabled()  # locked while training
        wiz.training_page.cancel_button.click()  # the UI's Cancel: sets the engine's Event
        assert wiz.job.cancel_event.is_set() and not wiz.training_page.cancel_button.isEnabled()
        gate.release.set()
    res = ended.args[0]
    assert res.outcome == "cancelled"
    fit = res.folds[0].fit
    assert fit.global_step == step_at_cancel  # not one more batch after Cancel
    assert fit.epochs_completed == 1
    last = Path(fit.last_checkpoint)
    assert last.name == "last.pt" and last.exists()
    model, cfg, extra = load_checkpoint(last)  # the zoo's safe loader (weights_only)
    assert extra["global_step"] == step_at_cancel and extra["batch_in_epoch"] >= 1
    with torch.no_grad():
        out = model(torch.zeros(1, cfg.channels, *cfg.net_input_size))
    assert tuple(out.shape) == (1, 7) and torch.isfinite(out).all()
    tp = wiz.training_page
    assert "Cancelled" in tp.status_label.text() and str(last) in tp.message.text()
    assert not tp.isComplete() and not wiz.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wiz.button(QWizard.WizardButton.BackButton).isEnabled()
    wiz.close()


def test_failed_run_shows_what_to_do_and_keeps_checkpoints(qtbot, ck48):
    wiz = new_wizard(qtbot, ck48)
    to_settings(wiz, protocol="holdout-25", epochs=3, batch=8)

    class OOMOnSecondEpoch(Callback):
        def on_epoch_start(self, epoch, total_epochs, num_batches):
            if epoch == 1:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    wiz.job.extra_callbacks = [OOMOnSecondEpoch()]
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended:
        wiz.next()
    res = ended.args[0]
    assert res.outcome == "failed" and "out of memory" in res.message
    msg = wiz.training_page.message.text()
    assert "lower the batch size" in msg and "last.pt" in msg
    last = Path(res.out_dir) / "fold1" / "last.pt"
    assert last.exists() and str(last) in msg
    assert not wiz.training_page.isComplete()
    # Back to the settings, fix, and the next run starts cleanly
    wiz.back()
    assert wiz.currentPage() is wiz.settings_page
    wiz.job.extra_callbacks = []
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended2:
        wiz.next()
    assert ended2.args[0].outcome == "finished"
    assert wiz.training_page.table.rowCount() == 3  # the table was reset for the new run


def test_closing_during_training_cancels_then_closes(qtbot, ck48):
    wiz = new_wizard(qtbot, ck48)
    to_settings(wiz, protocol="holdout-25", epochs=50, batch=8)
    gate = Gate()
    wiz.job.extra_callbacks = [gate]
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended:
        wiz.next()
        qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
        wiz.reject()  # window close / Cancel button
        assert wiz.isVisible() and wiz.job.cancel_event.is_set()  # stays open until the run stopped
        gate.release.set()
    assert ended.args[0].outcome == "cancelled"
    qtbot.waitUntil(lambda: not wiz.isVisible(), timeout=WAIT)
