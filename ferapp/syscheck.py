"""Check (and where possible install) the system libraries Qt's desktop plugin needs.

    python -m ferapp.syscheck            # report; exit 1 when something is missing
    python -m ferapp.syscheck --install  # also install them (Debian/Ubuntu, as root or with sudo -n)

The PySide6 wheel brings Qt itself but not the X11/xcb client libraries its ``xcb`` platform
plugin links against, so on a fresh Linux ``ferapp`` would abort with "Could not load the Qt
platform plugin xcb". This asks ``ldd`` which libraries the plugin (and Qt's xcb glue library)
cannot find, adds the ones Qt loads at run time (``libxcb-cursor.so.0``), maps each to its
Debian/Ubuntu package and lists every missing package at once. It imports no Qt, so it works
precisely when Qt cannot start. macOS and Windows need nothing (the wheel is self-contained).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# libraries Qt opens with dlopen() at start-up, so ldd on the plugin cannot see them
RUNTIME_LIBS = ("libxcb-cursor.so.0",)
# soname -> Debian/Ubuntu package, where the generic rule below does not give it
PACKAGES = {
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb.so.1": "libxcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libXrender.so.1": "libxrender1",
    "libXext.so.6": "libxext6",
    "libxcb-util.so.1": "libxcb-util1",
}


def package_for(soname: str) -> str:
    if soname in PACKAGES:
        return PACKAGES[soname]
    m = re.fullmatch(r"lib(xcb-[a-z0-9-]+)\.so\.(\d+)", soname)
    if m:  # libxcb-icccm.so.4 -> libxcb-icccm4, libxcb-render-util.so.0 -> libxcb-render-util0
        return f"lib{m.group(1)}{m.group(2)}"
    m = re.fullmatch(r"lib([A-Za-z0-9_-]+?)\.so\.(\d+)", soname)
    return f"lib{m.group(1).lower()}{m.group(2)}" if m else soname


def qt_plugin_files() -> list[Path]:
    """The xcb platform plugin and Qt's xcb library inside the installed PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0]) / "Qt"
    files = [root / "plugins" / "platforms" / "libqxcb.so", *sorted((root / "lib").glob("libQt6XcbQpa.so*"))]
    return [f for f in files if f.is_file()][:2]


def _ldd_missing(path: Path) -> set[str]:
    try:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line}


def _loadable(soname: str) -> bool:
    import ctypes

    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def missing_libraries() -> list[str]:
    """Sonames the Qt xcb plugin needs and this system lacks (empty: the window can start)."""
    if not sys.platform.startswith("linux"):
        return []
    missing: set[str] = set()
    for f in qt_plugin_files():
        missing |= _ldd_missing(f)
    missing |= {lib for lib in RUNTIME_LIBS if not _loadable(lib)}
    return sorted(missing)


def install_command(packages: list[str]) -> list[str] | None:
    """The apt-get command that installs ``packages`` here (as root, or through sudo -n), or None."""
    if not shutil.which("apt-get"):
        return None
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() == 0:
        return cmd
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", *cmd]
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ferapp.syscheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--install", action="store_true", help="install what is missing when this machine allows it"
    )
    args = ap.parse_args(argv)
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "wayland")):
        return 0  # the xcb plugin will not be used
    if not qt_plugin_files():
        if sys.platform.startswith("linux"):
            print(
                "syscheck: PySide6 is not installed in this environment (run `make run` or `make test`)",
                file=sys.stderr,
            )
            return 1
        return 0
    missing = missing_libraries()
    if not missing:
        return 0
    packages = sorted({package_for(s) for s in missing})
    print(
        f"Qt's desktop plugin (xcb) needs system libraries this machine lacks: {', '.join(missing)}",
        file=sys.stderr,
    )
    cmd = install_command(packages) if args.install else None
    if cmd is not None:
        print(f"installing: {' '.join(packages)}", file=sys.stderr)
        ok = subprocess.run(cmd).returncode == 0
        if not ok:  # stale package lists on a fresh machine: refresh once, then retry
            subprocess.run([*cmd[: cmd.index("apt-get")], "apt-get", "update", "-q"])
            ok = subprocess.run(cmd).returncode == 0
        if ok and not missing_libraries():
            return 0
        print("syscheck: the installation did not provide every library", file=sys.stderr)
    if shutil.which("apt-get"):
        print(f"Install them with:\n  sudo apt-get install -y {' '.join(packages)}", file=sys.stderr)
    elif shutil.which("dnf"):
        print(
            "Install the xcb-util-cursor, xcb-util-wm, xcb-util-keysyms, xcb-util-image and "
            "xcb-util-renderutil packages (e.g. sudo dnf install xcb-util-cursor xcb-util-wm "
            "xcb-util-keysyms xcb-util-image xcb-util-renderutil)",
            file=sys.stderr,
        )
    else:
        print("Install your distribution's packages that provide these libraries.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
