"""Work around a PySide6 6.12.0 reference-counting bug that crashes the app on CPython 3.11.

Found while taking the GUI screenshots: with PySide6(-Essentials) 6.12.0 every call of a Qt
method that returns ``void`` (``QLabel.setText``, ``QPainter.setPen``, ``QWidget.update``,
...) hands ``None`` back to Python without taking a reference, so each call decrements
``None``'s reference count once too often; ``Signal.emit`` does the same with ``True`` /
``False``. On CPython 3.12+ ``None`` is immortal and nothing
happens; on 3.11 (this project's interpreter) ``None`` starts with a count of a few thousand,
so a painting window aborts within seconds to a minute with
``Fatal Python error: none_dealloc: deallocating None`` (or ``bool_dealloc``). PySide6 6.11.3
does not have the bug (checked on the same CPython 3.11.7). Reproducer::

    import sys; from PySide6.QtCore import QObject
    o = QObject(); r = sys.getrefcount(None)
    for _ in range(1000): o.setObjectName("x")
    print(sys.getrefcount(None) - r)   # -1000 with 6.12.0 on 3.11, 0 when fixed

The guard measures that behaviour once and, only where it is present, gives ``None``,
``True`` and ``False`` a huge reference count (2**40: immortal in practice, which is exactly what CPython 3.12 does), so
the leak can never reach zero. It is a no-op on 3.12+ and on PySide6 versions without the bug.
The real fix is a PySide6 version without the bug (pin ``PySide6-Essentials!=6.12.0``).
"""

from __future__ import annotations

import ctypes
import sys

_applied = False


def refcount_leaks_per_call() -> dict[str, int]:
    """References lost per Qt call: {"None": void method, "True": Signal.emit} (0 = correct)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    obj = _Probe()
    n = 64
    out = {}
    before = sys.getrefcount(None)
    for _ in range(n):
        obj.setObjectName("ferapp-probe")
    out["None"] = max(0, round((before - sys.getrefcount(None)) / n))
    before = sys.getrefcount(True)
    for _ in range(n):
        obj.ping.emit()
    out["True"] = max(0, round((before - sys.getrefcount(True)) / n))
    return out


def guard_none_refcount() -> bool:
    """Apply the guard if this PySide6 leaks references to None/True/False. True if applied."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    if not any(refcount_leaks_per_call().values()):
        return False
    # ob_refcnt is the first field of every PyObject in a release build of CPython 3.11.
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40
    _applied = True
    return True
