"""Building blocks of the main window's controls: actions, toolbars, the source dropdown, menus.

Plain factories: each takes what it builds from and returns what it made; none reads or sets a
window attribute. The window (main_window.py) composes them with the widgets its parts own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLabel, QMenu, QToolBar, QWidget

DEMO_SPECS = (
    ("Demo (1 face)", "demo"),
    ("Demo (2 faces)", "demo:2"),
    ("Demo (4 faces)", "demo:4"),
    ("Driver demo (every alert)", "demo:driver"),
)
OPEN_ITEM = "__open__"  # the source dropdown's "Open video / image / folder…" entry


def make_action(
    parent: QObject,
    text: str,
    *,
    shortcut=None,
    tip: str | None = None,
    checkable: bool = False,
    triggered: Callable | None = None,
    toggled: Callable | None = None,
) -> QAction:
    a = QAction(text, parent)
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


class NumberBoxKeys(QObject):
    """Keys a number box cannot use (Space, letters) stay the window's shortcuts.

    A focused spin box takes every printable key first (Qt's ShortcutOverride): Space typed
    over the selected "40 px" wiped it to " px" and Start never ran. This filter lets a key the
    box has no use for (anything but digits, sign and decimal point) go to the shortcuts, so
    Space starts capture, P pauses, R records, and the box keeps its value. Text fields are left
    alone: a letter typed into one is text."""

    NUMBER_CHARS = frozenset("0123456789+-.,")

    def eventFilter(self, obj, event) -> bool:  # Qt API
        if event.type() == QEvent.Type.ShortcutOverride:
            text = event.text()
            if text and text.isprintable() and text not in self.NUMBER_CHARS:
                event.ignore()  # not the box's key: Qt tries the shortcuts
                return True
        return False


def guard_number_boxes(parent: QObject, *boxes: QAbstractSpinBox) -> NumberBoxKeys:
    keys = NumberBoxKeys(parent)
    for box in boxes:
        box.installEventFilter(keys)
    return keys


def toolbar(title: str, name: str) -> QToolBar:
    """A fixed toolbar; the window adds it, then :func:`fill_toolbar` (in that order: a toolbar
    filled before it is placed lays its widgets out 1 px taller)."""
    tb = QToolBar(title)
    tb.setObjectName(name)
    tb.setMovable(False)
    return tb


def fill_toolbar(tb: QToolBar, items: Iterable) -> QToolBar:
    """Add ``items``: actions, widgets, ``" text "`` labels and ``None`` separators."""
    for item in items:
        if item is None:
            tb.addSeparator()
        elif isinstance(item, str):
            tb.addWidget(QLabel(item))
        elif isinstance(item, QWidget):
            tb.addWidget(item)
        else:
            tb.addAction(item)
    return tb


def fill_menu(menu: QMenu, actions: Iterable[QAction | None]) -> QMenu:
    for a in actions:
        if a is None:
            menu.addSeparator()
        else:
            menu.addAction(a)
    return menu


def available_cameras(cameras: list[int] | None) -> list[int]:
    if cameras is not None:
        return list(cameras)
    try:
        from ferapp.capture import list_cameras

        return list(list_cameras())
    except Exception:
        return []


def source_combo(cameras: list[int]) -> QComboBox:
    combo = QComboBox()
    combo.setToolTip("Frame source")
    combo.setMinimumContentsLength(14)
    for i in cameras:
        combo.addItem(f"Camera {i}", str(i))
    for text, spec in DEMO_SPECS:
        combo.addItem(text, spec)
    combo.addItem("Open video / image / folder…", OPEN_ITEM)
    return combo


def update_train_action(action: QAction) -> None:
    """Tools > Train a model… is enabled only in a build that has the training wizard."""
    import importlib.util

    available = importlib.util.find_spec("ferapp.gui.wizard") is not None
    action.setEnabled(available)
    action.setToolTip(
        "Train a model on a dataset; it appears in the model list when saved"
        if available
        else "The training wizard is not installed in this build"
    )
