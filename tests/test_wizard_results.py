"""The training wizard's judgement of a run, its dataset discovery and its dialogs (pytest-qt,
offscreen): a model below the majority-class / chance baselines is flagged, saved only after a
confirmation and never offered for the live view; Save is the results page's default button;
the plot's x-axis says "fold" when each point is a fold; a folder holding CK+48.zip is read as
the archive; file dialogs open in the last folder used; a protocol that is not
subject-independent is a warning; the main window's model dropdown is never cut at 1280 px."""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QStyle, QStyleOptionComboBox, QWizard
from test_wizard import WAIT, make_ck48, new_wizard, to_settings

pytestmark = pytest.mark.gui

LABELS6 = ("angry", "disgust", "fear", "happy", "sad", "surprise")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERAPP_CACHE_DIR", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------ a run to judge
def _run_result(tmp_path: Path, confusions, beaten: bool):
    """A finished lenet5 'CK+48 p1-ck' run with these test confusions and a saved model folder."""
    from ferapp.train.evaluate import aggregate, metrics_from_confusion
    from ferapp.train.run import FoldResult, RunResult
    from ferapp.zoo import create_model
    from ferapp.zoo.io import save_model_dir

    tests = [metrics_from_confusion(np.asarray(c), LABELS6) for c in confusions]
    folds = [
        FoldResult(
            f"p1-ck/fold{i + 1}",
            SimpleNamespace(epochs_completed=1),
            t,
            100,
            10,
            int(t.n),
            1.0,
            str(tmp_path),
        )
        for i, t in enumerate(tests)
    ]
    agg = aggregate(tests)
    model_dir = tmp_path / "run" / "model"
    meta = {
        "metrics": {"accuracy": agg["mean_accuracy"], "protocol": "p1-ck"},
        "dataset": {"format": "ckplus48", "path": "/d/CK+48.zip"},
        "protocol": {"name": "p1-ck"},
        "baselines": {"accuracy": agg["mean_accuracy"], "majority": 0.269, "chance": 1 / 6, "beaten": beaten},
    }
    save_model_dir(model_dir, create_model("lenet5", num_classes=6), meta=meta)
    return RunResult(
        outcome="finished",
        folds=folds,
        mean_accuracy=agg["mean_accuracy"],
        std_accuracy=agg["std_accuracy"],
        mean_macro_f1=agg["mean_macro_f1"],
        best_model_dir=str(model_dir),
        out_dir=str(tmp_path / "run"),
        arch="lenet5",
        protocol="p1-ck",
        notes=["no images of neutral: the model has no output for it and never predicts it"],
    )


def _collapsed():
    cm = np.zeros((6, 6), np.int64)
    cm[:, 1] = [27, 42, 18, 30, 18, 51]  # 'disgust' for every image: 22.6 %, majority 27.4 %
    return [cm]


def _good():
    return [np.diag([27, 42, 18, 30, 18, 51]) + 1]


def _results_page(qtbot, tmp_path, run):
    """A wizard on its results page for ``run`` (dataset: a generated CK+48 folder without neutral)."""
    from ferapp.gui.wizard import PAGE_RESULTS

    wiz = new_wizard(qtbot, make_ck48(tmp_path / "CK+48", broken=False, skip=("neutral",)))
    wiz.settings_page.name_edit.setText("lenet5_CKp48")
    wiz.run_result = run
    wiz.setStartId(PAGE_RESULTS)
    wiz.restart()
    assert wiz.currentPage() is wiz.results_page
    return wiz, wiz.results_page


def test_a_model_below_its_baselines_is_flagged_saved_only_on_confirmation_and_not_offered(qtbot, tmp_path):
    from ferapp.gui.main_window import MainWindow
    from ferapp.zoo.store import user_models_dir

    wiz, rp = _results_page(qtbot, tmp_path, _run_result(tmp_path, _collapsed(), beaten=False))
    assert rp.weak and rp.warning_label.isVisible()
    warn = rp.warning_label.text()
    assert "This model is not better than guessing." in warn and "answers 'disgust' for 100 %" in warn
    assert "it is not offered for the live view" in warn
    assert "No images of neutral" in warn  # the class without images is reported, not hidden
    assert "always 'surprise' (majority class) 27.4 %, chance 16.7 %" in rp.baseline_label.text()
    rows = {
        rp.class_table.item(i, 0).text(): rp.class_table.item(i, 1).text()
        for i in range(rp.class_table.rowCount())
    }
    assert rows["neutral"] == "never predicted" and rows["disgust"] == "100.0 %"
    assert rp.save_button.text() == "Save anyway…"

    win = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[])
    qtbot.addWidget(win)
    wiz.model_saved.connect(win.dialogs.offer_saved_model)
    saved = []
    wiz.model_saved.connect(saved.append)
    folder = Path(user_models_dir()) / "lenet5_CKp48"
    # Save asks first; Cancel (the default) saves nothing
    rp.save_button.click()
    box = rp.confirm_box
    assert box is not None and box.isVisible() and "not better than guessing" in box.windowTitle()
    assert "always answering 'surprise' would reach 27.4 %" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert saved == [] and not folder.exists()
    # "Save anyway" saves; the main window lists it, marked, and does not offer it
    rp.save_button.click()
    with qtbot.waitSignal(wiz.model_saved, timeout=WAIT):
        rp.confirm_box.button(QMessageBox.StandardButton.Save).click()
    assert saved == ["lenet5_CKp48"] and folder.is_dir() and rp.saved_path == folder
    assert win.last_dialog is None or "Use it now" not in win.last_dialog.text()
    assert "not switched on" in win.statusBar().currentMessage()
    i = win.model_combo.findData("lenet5_CKp48")
    assert (
        i >= 0 and win.model_combo.itemText(i) == "lenet5_CKp48   22.6% CK+48 subject 5-fold · below baseline"
    )
    assert win.model_combo.currentData() == "cc_lenet5"
    assert "Not recommended for live use" in win.model_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    win.close()
    wiz.close()


def test_save_is_the_results_pages_default_button(qtbot, tmp_path):
    wiz, rp = _results_page(qtbot, tmp_path, _run_result(tmp_path, _good(), beaten=True))
    finish = wiz.button(QWizard.WizardButton.FinishButton)
    assert not rp.weak and not rp.warning_label.text().startswith("<b>This model")
    assert rp.save_button.text() == "Save to my models"
    qtbot.waitUntil(rp.name_edit.hasFocus, timeout=WAIT)  # not Close, which would take Enter
    assert rp.save_button.isDefault() and not finish.isDefault()
    with qtbot.waitSignal(wiz.model_saved, timeout=WAIT) as sig:
        qtbot.keyClick(rp.name_edit, Qt.Key.Key_Return)  # Enter saves; it does not close the wizard
    assert sig.args == ["lenet5_CKp48"] and wiz.isVisible()
    # saved: Close is the default again
    assert not rp.save_button.isEnabled() and not rp.save_button.isDefault() and finish.isDefault()
    wiz.close()


# ------------------------------------------------------------------------------ the training plot
def test_plot_axis_says_fold_when_each_point_is_a_fold(qtbot, tmp_path):
    wiz = new_wizard(qtbot, make_ck48(tmp_path / "CK+48", broken=False))
    to_settings(wiz, protocol="subject-3fold", epochs=1)
    with qtbot.waitSignal(wiz.training_ended, timeout=WAIT) as ended:
        wiz.next()
    assert ended.args[0].outcome == "finished"
    tp = wiz.training_page
    assert len(tp.history) == 3 and [r["fold"] for r in tp.history] == [1, 2, 3]
    for plot in (tp.loss_plot, tp.acc_plot):
        assert plot.getAxis("bottom").labelText == "fold"
    assert tp._fold_lines == []  # no "new fold" separators between points that are folds
    assert list(tp.train_curve.getData()[0]) == [1, 2, 3]
    tp.set_axis(epochs=4, folds=3)
    assert tp.loss_plot.getAxis("bottom").labelText.startswith("epoch (fold after fold")
    wiz.close()


# ------------------------------------------------------------------------------ the dataset page
def _zip_folder(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as z:
        for f in sorted(src.rglob("*.png")):
            z.write(f, "CK+48/" + f.relative_to(src).as_posix())
    return dst


def test_a_folder_holding_the_archive_is_read_as_it_and_several_are_offered(qtbot, tmp_path):
    images = make_ck48(tmp_path / "extracted", broken=False)
    holder = tmp_path / "ckplus48"
    holder.mkdir()
    archive = _zip_folder(images, holder / "CK+48.zip")
    wiz = new_wizard(qtbot)
    page = wiz.dataset_page
    page.load(str(holder))
    qtbot.waitUntil(lambda: page.isComplete() or page.error_label.isVisible(), timeout=WAIT)
    assert not page.error_label.isVisible(), page.error_label.text()  # was "no image files found"
    assert page.dataset.report.format == "ckplus48" and len(page.dataset) == 56
    assert page.path_edit.text() == str(archive)
    assert (
        page.found_label.isVisible()
        and "holds no image files; reading CK+48.zip, the only dataset in it" in page.found_label.text()
    )
    # two archives: say so, and offer each as a button
    _zip_folder(images, holder / "copy.zip")
    page.load(str(holder))
    qtbot.waitUntil(lambda: page.error_label.isVisible() and not page.loader.busy, timeout=WAIT)
    assert "2 datasets: CK+48.zip, copy.zip" in page.error_label.text() and not page.isComplete()
    assert [b.text() for b in page.choice_buttons] == ["Use CK+48.zip", "Use copy.zip"]
    page.choice_buttons[1].click()
    qtbot.waitUntil(page.isComplete, timeout=WAIT)
    assert page.path_edit.text() == str(holder / "copy.zip") and not page.choices.isVisible()
    wiz.close()


def test_file_dialogs_open_in_the_folder_of_the_last_dataset(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def pick_folder(parent, title, start):
        asked.append(start)
        return ""  # cancelled

    def pick_file(parent, title, start, filt):
        asked.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", pick_folder)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", pick_file)
    monkeypatch.chdir(tmp_path)  # the working directory is never where a dialog opens
    first = new_wizard(qtbot)
    first.dataset_page.folder_button.click()
    assert asked == [str(Path.home())]
    datasets = tmp_path / "data" / "sets"
    first.dataset_page.load(str(make_ck48(datasets / "CK+48", broken=False)))
    qtbot.waitUntil(first.dataset_page.isComplete, timeout=WAIT)
    first.close()
    # a new wizard (the setting is persisted) opens its dialogs where that dataset lies
    second = new_wizard(qtbot)
    second.dataset_page.folder_button.click()
    second.dataset_page.zip_button.click()
    assert asked[1:] == [str(datasets), str(datasets)]
    second.close()


def test_main_window_open_dialogs_start_in_the_last_folder_used(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from ferapp.gui.main_window import MainWindow

    clip = tmp_path / "videos" / "clip.mp4"
    clip.parent.mkdir()
    asked = []

    def pick_file(parent, title, start, filt):
        asked.append(start)
        return str(clip), filt

    monkeypatch.setattr(QFileDialog, "getOpenFileName", pick_file)
    monkeypatch.chdir(tmp_path)
    win = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[])
    qtbot.addWidget(win)
    assert win.dialogs.ask_path("video") == str(clip)
    assert win.dialogs.ask_path("image") == str(clip)
    assert asked == [str(Path.home()), str(clip.parent)]  # first home (not the working directory), then there
    win.close()


# ------------------------------------------------------------------------------ the settings page
def test_a_protocol_that_is_not_subject_independent_is_shown_as_a_warning(qtbot, tmp_path):
    wiz = new_wizard(qtbot, make_ck48(tmp_path / "CK+48", broken=False))
    wiz.next()
    assert wiz.model_page.select("resnet20")
    wiz.next()
    s = wiz.settings_page
    assert s.protocol.currentText() == "p2"  # the paper's preset fits: it is the default
    info = s.protocol_info.text()
    assert "⚠ p2 is not subject-independent" in info and "#a05a00" in info  # the warning colour
    s.protocol.setCurrentText("subject-4fold")
    s.protocol.activated.emit(0)
    qtbot.waitUntil(lambda: "subject-4fold" in s.protocol_info.text(), timeout=WAIT)
    assert "not subject-independent" not in s.protocol_info.text()
    wiz.close()


# ------------------------------------------------------------------------------ the model dropdown
def _field_width(combo) -> int:
    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    return (
        combo.style()
        .subControlRect(QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, combo)
        .width()
    )


def test_model_dropdown_is_not_cut_at_1280_px(qtbot, tmp_path):
    from ferapp.gui.main_window import MainWindow
    from ferapp.zoo import create_model
    from ferapp.zoo.io import save_model_dir

    long_name = "cc_lenet5_trained_on_my_own_webcam_faces_v12_final"
    save_model_dir(
        Path(tmp_path / "user_models" / long_name),
        create_model("cc_lenet5"),
        meta={
            "metrics": {"accuracy": 0.8123, "protocol": "kfold-5"},
            "latency_ms": 0.6,
            "dataset": {"format": "image-folders", "path": "/home/me/faces"},
        },
    )
    win = MainWindow(source="demo", detector="hog", cameras=[])
    qtbot.addWidget(win)
    win.resize(1280, 760)
    win.show()
    qtbot.waitExposed(win)
    combo = win.model_combo
    qtbot.waitUntil(lambda: combo.count() > 0 and combo.currentText() != "", timeout=WAIT)
    for ref in (combo.currentData(), "resnet20_seed2_fer2013", long_name):
        win.model_ctl.select(ref, quiet=True)
        text = combo.currentText()
        assert combo.fontMetrics().horizontalAdvance(text) <= _field_width(combo), text
        assert combo.isVisible() and combo.mapTo(win, combo.rect().bottomRight()).x() <= win.width()
    entry = combo.itemText(combo.findData(long_name))
    assert (
        entry.endswith("81.2% faces 5-fold · 0.6 ms") and "…" in entry
    )  # the name is elided, the figures whole
    assert long_name in combo.itemData(combo.findData(long_name), Qt.ItemDataRole.ToolTipRole)
    assert (
        win.model_combo.itemText(win.model_combo.findData("resnet20_kd_fer2013"))
        == "resnet20_kd_fer2013   69.5% FER2013 PrivateTest · 3.4 ms"
    )
    win.close()
