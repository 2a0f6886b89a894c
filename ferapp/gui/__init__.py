"""Qt desktop GUI (PySide6 + pyqtgraph). The only package that imports Qt.

Entry points: ``ferapp.gui.app.run_gui`` / ``add_gui_arguments``; ``MainWindow`` in main_window.py.
Importing this package first applies ``qt_compat.guard_none_refcount`` (a PySide6 6.12.0 bug
that otherwise aborts the process on CPython 3.11 after a few thousand Qt calls).
"""

from ferapp.gui.qt_compat import guard_none_refcount as _guard_none_refcount

_guard_none_refcount()
