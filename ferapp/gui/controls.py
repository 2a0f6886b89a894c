"""The main window's actions, toolbars, menus and status bar (construction only).

Each ``build_*`` function creates widgets as attributes of the window (``win.start_action``,
``win.model_combo``, ...) and connects them to the window's slots; no state lives here.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QMainWindow,
    QSlider,
    QSpinBox,
    QToolBar,
)

from ferapp.gui import settings as gui_settings
from ferapp.paths import recordings_dir

DEMO_SPECS = (("Demo (1 face)", "demo"), ("Demo (2 faces)", "demo:2"), ("Demo (4 faces)", "demo:4"),
              ("Driver demo (every alert)", "demo:driver"))
OPEN_ITEM = "__open__"  # the source dropdown's "Open video / image / folder…" entry


def _action(win: QMainWindow, text: str, *, shortcut=None, tip: str | None = None, checkable: bool = False,
            triggered: Callable | None = None, toggled: Callable | None = None) -> QAction:
    a = QAction(text, win)
    a.setCheckable(checkable)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
    if triggered is not None:
        a.triggered.connect(triggered)
    if toggled is not None:
        a.toggled.connect(toggled)
    return a


def build_actions(win) -> None:
    win.start_action = _action(win, "Start", shortcut=Qt.Key.Key_Space, tip="Start / stop capture (Space)",
                               checkable=True, triggered=win._start_triggered)
    win.pause_action = _action(win, "Pause", shortcut=Qt.Key.Key_P, checkable=True,
                               tip="Pause / resume a video or the demo (P)", toggled=win._pause_toggled)
    win.pause_action.setEnabled(False)
    win.record_action = _action(win, "● Record", shortcut=Qt.Key.Key_R, checkable=True, triggered=win.recording_ctl.triggered,
                                tip="Record the expression timeline (CSV + JSON) to the recordings folder (R)")
    win.video_action = _action(win, "Also record annotated video (MP4)", checkable=True)
    win.video_action.setChecked(bool(gui_settings.read("record_video", win.settings)))
    win.open_timeline_action = _action(win, "Open timeline…", shortcut="Ctrl+O",
                                       triggered=lambda: win.dialogs.ask_open_timeline())
    win.landmarks_action = _action(win, "Show landmarks", checkable=True)
    win.landmarks_action.setChecked(win.video.show_landmarks)
    win.landmarks_action.toggled.connect(lambda on: setattr(win.video, "show_landmarks", on))
    win.driver_action = _action(win, "Driver monitoring", checkable=True, toggled=win.set_driver_mode,
                                tip="Eye closure, PERCLOS, yawns and head pose alerts for the main face")
    win.train_action = _action(win, "Train a model…", triggered=win.open_training_wizard)
    win.refresh_models_action = _action(win, "Refresh model list", triggered=lambda: win.refresh_models())
    win.about_action = _action(win, "About ferapp", triggered=win.show_about)
    win.quick_start_action = _action(win, "Quick start", shortcut=Qt.Key.Key_F1,
                                     triggered=lambda: win.show_help("quick"))
    win.shortcuts_action = _action(win, "Keyboard shortcuts", triggered=lambda: win.show_help("shortcuts"))
    win.batch_action = _action(win, "Analyze video or folder…", triggered=lambda: win.open_batch_dialog(),
                               tip="Process a whole video or folder of photos into a timeline (like `ferapp analyze`)")
    win.open_video_action = _action(win, "Open video…", triggered=lambda: win._ask_open_source("video"))
    win.open_image_action = _action(win, "Open image…", triggered=lambda: win._ask_open_source("image"))
    win.open_folder_action = _action(win, "Open folder of images…", triggered=lambda: win._ask_open_source("folder"))
    win.recordings_action = _action(win, "Show recordings folder", triggered=lambda: QDesktopServices.openUrl(
        QUrl.fromLocalFile(str(recordings_dir()))))
    win.quit_action = _action(win, "Quit", shortcut=QKeySequence.StandardKey.Quit, triggered=win.close)


class NumberBoxKeys(QObject):
    """Keys a number box cannot use (Space, letters) stay the window's shortcuts.

    A focused spin box takes every printable key first (Qt's ShortcutOverride): Space typed
    over the selected "40 px" wiped it to " px" and Start never ran. This filter lets a key the
    box has no use for (anything but digits, sign and decimal point) go to the shortcuts, so
    Space starts capture, P pauses, R records, and the box keeps its value. Text fields are left
    alone: a letter typed into one is text."""

    NUMBER_CHARS = frozenset("0123456789+-.,")

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ShortcutOverride:
            text = event.text()
            if text and text.isprintable() and text not in self.NUMBER_CHARS:
                event.ignore()  # not the box's key: Qt tries the shortcuts
                return True
        return False


def guard_number_boxes(win, *boxes: QAbstractSpinBox) -> None:
    win.number_box_keys = NumberBoxKeys(win)
    for box in boxes:
        box.installEventFilter(win.number_box_keys)


def _toolbar(win: QMainWindow, title: str, name: str) -> QToolBar:
    tb = QToolBar(title)
    tb.setObjectName(name)
    tb.setMovable(False)
    win.addToolBar(tb)
    return tb


def available_cameras(cameras: list[int] | None) -> list[int]:
    if cameras is not None:
        return list(cameras)
    try:
        from ferapp.capture import list_cameras

        return list(list_cameras())
    except Exception:  # noqa: BLE001
        return []


def build_toolbars(win, cameras: list[int]) -> None:
    tb = win.toolbar = _toolbar(win, "Main", "mainToolbar")
    win.source_combo = QComboBox()
    win.source_combo.setToolTip("Frame source")
    win.source_combo.setMinimumContentsLength(14)
    for i in cameras:
        win.source_combo.addItem(f"Camera {i}", str(i))
    for text, spec in DEMO_SPECS:
        win.source_combo.addItem(text, spec)
    win.source_combo.addItem("Open video / image / folder…", OPEN_ITEM)
    tb.addWidget(QLabel(" Source "))
    tb.addWidget(win.source_combo)

    win.detector_combo = QComboBox()
    win.detector_combo.setToolTip("Face detector")
    try:
        from ferapp.detect import list_detectors

        dets = list_detectors()
    except Exception:  # noqa: BLE001
        dets = ["hog"]
    win.detector_combo.addItems(dets)
    tb.addWidget(QLabel(" Detector "))
    tb.addWidget(win.detector_combo)
    from ferapp.config import DEFAULT_MIN_FACE, MIN_FACE_RANGE

    win.min_face_spin = QSpinBox()
    win.min_face_spin.setRange(max(12, MIN_FACE_RANGE[0]), 400)
    win.min_face_spin.setValue(DEFAULT_MIN_FACE)
    win.min_face_spin.setSuffix(" px")
    win.min_face_spin.setToolTip("Smallest face width to find, in video pixels. Smaller finds people "
                                 "further away but costs more CPU (the face scan grows with 1/size²).")
    tb.addWidget(QLabel(" Min face "))
    tb.addWidget(win.min_face_spin)

    win.model_combo = QComboBox()
    win.model_combo.setToolTip("Expression model (trained models first)")
    win.model_combo.setMinimumContentsLength(18)
    win.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    tb.addWidget(QLabel(" Model "))
    tb.addWidget(win.model_combo)
    win.device_label = QLabel(" device: … ")
    win.device_label.setObjectName("deviceLabel")
    tb.addWidget(win.device_label)

    win.addToolBarBreak()
    tb = win.capture_toolbar = _toolbar(win, "Capture", "captureToolbar")
    tb.addAction(win.start_action)
    tb.addAction(win.pause_action)
    tb.addAction(win.record_action)
    win.record_label = QLabel("")
    win.record_label.setObjectName("recordLabel")
    win.record_label.setMinimumWidth(110)
    tb.addWidget(win.record_label)
    tb.addSeparator()
    tb.addWidget(QLabel(" Smoothing "))
    win.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
    win.smoothing_slider.setRange(0, 95)
    win.smoothing_slider.setFixedWidth(90)
    win.smoothing_spin = QDoubleSpinBox()
    win.smoothing_spin.setRange(0.0, 0.95)
    win.smoothing_spin.setSingleStep(0.05)
    win.smoothing_spin.setDecimals(2)
    win.smoothing_spin.setToolTip("Exponential smoothing of probabilities (0 = none)")
    win.smoothing_slider.valueChanged.connect(lambda v: win.smoothing_spin.setValue(v / 100.0))
    win.smoothing_spin.valueChanged.connect(win.model_ctl.smoothing_changed)
    tb.addWidget(win.smoothing_slider)
    tb.addWidget(win.smoothing_spin)
    tb.addSeparator()
    tb.addAction(win.landmarks_action)
    tb.addAction(win.driver_action)
    guard_number_boxes(win, win.min_face_spin, win.smoothing_spin)


def build_menus(win) -> None:
    mb = win.menuBar()
    m = mb.addMenu("&File")
    for a in (win.open_video_action, win.open_image_action, win.open_folder_action, None, win.batch_action,
              win.open_timeline_action, win.recordings_action, None, win.quit_action):
        if a is None:
            m.addSeparator()
        else:
            m.addAction(a)
    m = mb.addMenu("&Capture")
    for a in (win.start_action, win.pause_action, win.record_action, win.video_action):
        m.addAction(a)
    m = mb.addMenu("&View")
    for a in (win.landmarks_action, win.driver_action, win.plots_dock.toggleViewAction()):
        m.addAction(a)
    m = mb.addMenu("&Tools")
    m.aboutToShow.connect(lambda: update_train_action(win.train_action))
    update_train_action(win.train_action)
    m.addAction(win.train_action)
    m.addAction(win.refresh_models_action)
    m = mb.addMenu("&Help")
    m.addAction(win.quick_start_action)
    m.addAction(win.shortcuts_action)
    m.addSeparator()
    m.addAction(win.about_action)


def update_train_action(action: QAction) -> None:
    """Tools > Train a model… is enabled only in a build that has the training wizard."""
    import importlib.util

    available = importlib.util.find_spec("ferapp.gui.wizard") is not None
    action.setEnabled(available)
    action.setToolTip("Train a model on a dataset; it appears in the model list when saved"
                      if available else "The training wizard is not installed in this build")


def build_statusbar(win) -> None:
    sb = win.statusBar()
    for attr, name in (("notice_label", "noticeLabel"), ("position_label", "positionLabel"),
                       ("stats_label", "statsLabel")):
        label = QLabel("")
        label.setObjectName(name)
        sb.addPermanentWidget(label)
        setattr(win, attr, label)
