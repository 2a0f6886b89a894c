"""The source dropdown and File > Open video / image / folder.

A part that owns its widgets and says ``picked(spec)`` when the user chose another source; the
window switches to it (``MainWindow.set_source``) and calls :meth:`SourcePicker.show`. It reads
the window's LiveRun for the source shown and asks ``dialogs.ask_path`` for files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from ferapp.gui import controls
from ferapp.gui.live_run import LiveRun


class SourcePicker(QObject):
    picked = Signal(str)

    def __init__(self, cameras: list[int], live: LiveRun, dialogs, parent: QObject | None = None):
        super().__init__(parent)
        self.live, self.dialogs, self.cameras = live, dialogs, list(cameras)
        self.combo = controls.source_combo(self.cameras)
        self.combo.activated.connect(self._activated)
        a = controls.make_action
        self.open_video_action = a(self, "Open video…", triggered=lambda: self.ask("video"))
        self.open_image_action = a(self, "Open image…", triggered=lambda: self.ask("image"))
        self.open_folder_action = a(self, "Open folder of images…", triggered=lambda: self.ask("folder"))

    def show(self, spec: str) -> None:
        """Select ``spec`` in the dropdown (a file or folder gets its own entry, before "Open…")."""
        idx = self.combo.findData(spec)
        if idx < 0:
            idx = self.combo.count() - 1  # before "Open…"
            self.combo.insertItem(idx, Path(spec).name or spec, spec)
            self.combo.setItemData(idx, spec, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(idx)

    def _activated(self, _i: int) -> None:
        spec = self.combo.currentData()
        if spec == controls.OPEN_ITEM:
            self.show(self.live.source_spec)
            self.ask("video")
            return
        if spec and spec != self.live.source_spec:
            self.picked.emit(spec)

    def ask(self, kind: str) -> None:
        """A file picker for ``kind`` (video, image, folder); the path picked becomes the source."""
        path = self.dialogs.ask_path(kind)
        if path:
            self.picked.emit(path)
