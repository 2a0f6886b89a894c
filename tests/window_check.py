"""CI check: the real window comes up on the xcb platform under Xvfb.

    python tests/window_check.py [--out window_check.png]

Starts ``ferapp gui --source demo`` on a virtual X display (xvfb-run) with QT_QPA_PLATFORM=xcb
(not offscreen: the platform users get), lets it run 6 s, saves the X server's framebuffer and
fails unless the process exited 0 on the xcb platform and the screenshot shows a window (most
of the screen covered by something other than the empty root background), with live video in it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(REPO / "window_check.png"))
    args = ap.parse_args(argv)
    if not shutil.which("xvfb-run"):
        print("window check: xvfb-run not found (Debian: apt-get install xvfb xauth)", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    out = Path(args.out)
    out.unlink(missing_ok=True)
    exe = str(Path(sys.executable).with_name("ferapp"))
    cmd = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1400x900x24",
        exe,
        "gui",
        "--source",
        "demo",
        "--screen-snapshot",
        str(out),
        "--exit-after",
        "6",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    print(proc.stdout.strip())
    if proc.returncode != 0 or "platform xcb" not in proc.stdout or not out.exists():
        print(f"window check FAILED (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
        return 1
    import cv2
    import numpy as np

    img = cv2.imread(str(out))
    bg = img[-1, -1].astype(int)  # Xvfb's root background (the window is placed at the top left)
    covered = float((np.abs(img.astype(int) - bg).sum(axis=2) > 30).mean())
    print(f"window check: screen {img.shape[1]}x{img.shape[0]}, {covered:.0%} covered by the window")
    if covered < 0.3 or img.std() < 10:
        print("window check FAILED: no window on the screen", file=sys.stderr)
        return 1
    print("window check passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
