"""The main window's dialogs and child windows: messages, file pickers, the timeline viewer,
help, About, batch analysis and the training wizard.

Message boxes never block (``open()``, no modal event loop): the live view keeps running
behind them, and the newest one is ``last`` (``MainWindow.last_dialog``) so that a test reads or clicks it instead
of sitting in a modal loop. The only blocking dialogs are the file pickers, all behind
:meth:`WindowDialogs.ask_path`; replace it (or the instance's attribute) to script them. Nothing
here depends on the Qt platform in use.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ferapp.paths import recordings_dir
from ferapp.session import Session

log = logging.getLogger(__name__)


class WindowDialogs(QObject):
    """The window's dialogs, parented to ``window`` (only as their Qt parent). Takes the Session
    and the model part (the model, detector and smallest face a batch analysis uses). Signals:
    ``status(text, ms)``, ``error(text, as_dialog)``."""

    status = Signal(str, int)
    error = Signal(str, bool)

    def __init__(self, window: QWidget, session: Session, model_ctl):
        super().__init__(window)
        self.window, self.session, self.model_ctl = window, session, model_ctl
        self.last: QMessageBox | QWidget | None = None  # the newest message box / help dialog
        self.viewers: list[QWidget] = []  # open timeline viewers
        self.wizard = None
        self.batch = None

    def _keep(self, dlg):
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        self.last = dlg
        return dlg

    def message(self, text: str) -> QMessageBox:
        """A warning box that does not block (the window keeps running behind it)."""
        return self._keep(
            QMessageBox(QMessageBox.Icon.Warning, "ferapp", text, QMessageBox.StandardButton.Ok, self.window)
        )

    # ------------------------------------------------------------------ file pickers (blocking)
    def ask_path(self, kind: str) -> str:
        """The path the user picks ('' when cancelled). ``kind``: video, image, folder or timeline."""
        from ferapp.capture import IMAGE_EXTS, VIDEO_EXTS
        from ferapp.gui import settings as gui_settings

        if kind == "timeline":
            start = str(recordings_dir()) if recordings_dir().exists() else ""
            return QFileDialog.getOpenFileName(
                self.window, "Open timeline", start, "Timeline CSV (*.csv);;All files (*)"
            )[0]
        start = gui_settings.dialog_dir("open_dir")  # where the last video / image / folder was
        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self.window, "Open a folder of images", start)
        else:
            exts = sorted(VIDEO_EXTS if kind == "video" else IMAGE_EXTS)
            filt = f"{kind.title()} files ({' '.join('*' + e for e in exts)});;All files (*)"
            path = QFileDialog.getOpenFileName(self.window, f"Open {kind}", start, filt)[0]
        gui_settings.remember_dir("open_dir", path)
        return path

    def ask_open_timeline(self) -> None:
        path = self.ask_path("timeline")
        if path:
            self.open_timeline(path)

    # ------------------------------------------------------------------ child windows
    def open_timeline(self, path: str | Path):
        """Open the timeline viewer on ``path``; returns it (None after an error message)."""
        from ferapp.gui.viewer import TimelineViewer
        from ferapp.record.timeline import TimelineError

        try:
            viewer = TimelineViewer(path)
        except TimelineError as e:
            self.error.emit(str(e), True)
            return None
        except Exception as e:  # a viewer bug must reach the user, not vanish in a slot
            log.exception("timeline viewer failed")
            self.error.emit(f"Could not show '{path}': {type(e).__name__}: {e}", True)
            return None
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.destroyed.connect(lambda *_: self.viewers.remove(viewer) if viewer in self.viewers else None)
        self.viewers.append(viewer)
        viewer.show()
        return viewer

    def close_viewers(self) -> None:
        for v in list(self.viewers):
            v.close()

    def show_help(self, which: str):
        from ferapp.gui.about import HtmlDialog, quick_start_html, shortcuts_html

        title, body, size = (
            ("Quick start", quick_start_html(), (680, 560))
            if which == "quick"
            else ("Keyboard shortcuts", shortcuts_html(), (420, 360))
        )
        return self._keep(HtmlDialog(title, body, self.window, size))

    def show_about(self) -> None:
        from ferapp.gui.about import AboutDialog

        dlg = AboutDialog(self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()

    def open_batch_dialog(self, source: str | None = None):
        """File > Analyze video or folder…: the window's model, detector and min face; the
        timeline goes to the recordings folder and opens in the viewer when done."""
        from ferapp.gui.batch_dialog import BatchAnalysisDialog

        m = self.model_ctl
        dlg = BatchAnalysisDialog(
            self.session.loaded_model_ref or self.session.model_ref,
            m.detector,
            m.min_face,
            recordings_dir(),
            self.window,
            source=source,
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.timeline_ready.connect(self.open_timeline)
        dlg.show()
        self.batch = dlg
        return dlg

    def open_training_wizard(self):
        """Tools > Train a model…: the training wizard; a saved model appears in the dropdown."""
        try:
            from ferapp.gui.wizard import TrainingWizard
        except ImportError as e:
            self.error.emit(f"The training wizard is not available: {e}", True)
            return None
        if self.wizard is None:
            self.wizard = TrainingWizard(self.window)
            self.wizard.model_saved.connect(self.offer_saved_model)
            self.wizard.destroyed.connect(lambda *_: setattr(self, "wizard", None))
        self.wizard.show()
        self.wizard.raise_()
        return self.wizard

    def offer_saved_model(self, name: str) -> QMessageBox | None:
        """A model was saved (wizard): list it at once, and ask before switching to it (the
        default keeps the model in use: a new model may have other classes or lower accuracy).
        A model that did not beat its baselines is listed but not offered (status bar says why)."""
        from ferapp.gui import models as gui_models

        self.model_ctl.refresh()
        weak = gui_models.weak_reason(gui_models.find_model(name))
        if weak:
            self.status.emit(f"'{name}' was saved to the Model list but not switched on: {weak}.", 15000)
            return None
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Model saved",
            f"'{name}' was saved and is now in the Model list.\n\nUse it now for the live view?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.window,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def answered(button) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.model_ctl.refresh(select=name)

        box.buttonClicked.connect(answered)
        return self._keep(box)
