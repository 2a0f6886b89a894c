"""Starting the app without a frozen window (Qt-free).

A Python thread is not enough to keep a window responsive while the pipeline builds: the
window's thread needs the GIL for every event, and the expensive steps are single C calls
that hold it. Measured on a loaded 2-core AMD EPYC (AVX2), largest gaps of a 5 ms ticker on
the main thread while another thread builds:

- ``dlib.shape_predictor`` (the 100 MB 68-point model): the whole load, 0.5 s quiet, one
  gap. There is no GIL-free way to load it, so the window loads it (``preload_landmarks``)
  before it shows itself; the predictor is shared by every finder (``ferapp.detect.landmarks``).
- ``dlib.get_frontal_face_detector``: the whole build (~0.45 s); replaced by a 3 ms load from
  a file (``ferapp.detect.detectors``).
- ``import torch``: mostly Python (the GIL changes hands every 5 ms), but loading
  ``libtorch_cpu.so`` (430 MB: relocations and static operator registration) is one
  ``dlopen`` under the import lock with the GIL held: 1.7-2.0 s gaps under load.
  ``preload_torch_libraries`` dlopens those libraries first through libc's ``dlopen`` as a
  ctypes foreign call, which releases the GIL; ``import torch`` then finds them loaded
  (largest gap 0.3-0.4 s under load, from unmarshalling big ``.pyc`` files).

``process_age_s`` is the clock of the bench's time-to-first-paint / first-result figures.
"""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger(__name__)

_IMPORTED_AT = time.monotonic()  # fallback start time where /proc is not available


def process_age_s() -> float:
    """Seconds since this process started (Linux: from /proc, so interpreter start-up counts too;
    elsewhere: since ferapp.startup was imported)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_AT


def _torch_native_libraries() -> list[str]:
    import importlib.util

    if sys.platform.startswith("linux"):
        names = ("libtorch_global_deps.so", "libtorch.so")
    elif sys.platform == "darwin":
        names = ("libtorch_global_deps.dylib", "libtorch.dylib")
    else:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return []
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    return [os.path.join(lib, n) for n in names if os.path.isfile(os.path.join(lib, n))]


def preload_torch_libraries() -> bool:
    """Load torch's C++ libraries (``libtorch`` and with it ``libtorch_cpu``, ``c10``) with the
    GIL released, before ``import torch`` (which then finds them loaded). Only the libraries
    that use no Python; ``libtorch_global_deps`` with RTLD_GLOBAL, as torch loads it. False when
    torch is already imported or this platform has no such libraries."""
    if "torch" in sys.modules:
        return False
    paths = _torch_native_libraries()
    if not paths:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return False
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for path in paths:
        mode = os.RTLD_NOW | (os.RTLD_GLOBAL if "global_deps" in os.path.basename(path) else os.RTLD_LOCAL)
        if not dlopen(os.fsencode(path), mode):  # a foreign call: runs without the GIL
            log.debug("could not preload %s; import torch will load it", path)
            return False
    return True


def preload_landmarks() -> None:
    """Load the 68-point landmark model now (GIL held ~0.5 s): before the window is shown."""
    from ferapp.detect.landmarks import shape_predictor

    shape_predictor()
