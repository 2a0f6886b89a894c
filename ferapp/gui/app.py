"""GUI entry point used by ``ferapp`` (no arguments) and ``ferapp gui ...``.

``--snapshot out.png --exit-after 5`` is the self-check mode: the real window runs for N
seconds on its source, then a screenshot of the whole window is saved and the app exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ferapp.gui_cli import add_gui_arguments, validate_gui_args

log = logging.getLogger(__name__)

__all__ = ["add_gui_arguments", "run_gui", "main"]


def _style_sheet() -> str:
    try:
        from ferapp.paths import resources_dir

        p = resources_dir() / "style.qss"
        return p.read_text(encoding="utf-8") if p.exists() else ""
    except Exception:  # a missing style sheet only costs looks
        return ""


def _quietly(fn) -> None:
    """Run ``fn``; a failure is left to the pipeline build, which reports it in the window."""
    try:
        fn()
    except Exception as e:
        log.debug("preload failed: %s", e)


def open_window(args: argparse.Namespace):
    """The QApplication and the shown, started main window, in the order that keeps the window
    responsive from its first paint: the 68-point landmark model (one ~0.5 s C call that holds
    the GIL) loads while Qt starts and is waited for before the window is shown; the rest of
    the pipeline builds in the background behind a loading state (``ModelControl``).
    Returns ``(app, win, watch)``; ``watch`` is the window's ``StartupWatch``."""
    import threading

    from ferapp.startup import preload_landmarks

    landmarks = threading.Thread(
        target=_quietly, args=(preload_landmarks,), name="ferapp-landmarks", daemon=True
    )
    landmarks.start()
    import pyqtgraph  # noqa: F401  (before the window: sets its Qt binding to PySide6)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ferapp")
    app.setOrganizationName("ferapp")
    qss = _style_sheet()
    if qss:
        app.setStyleSheet(qss)

    from ferapp.gui.main_window import MainWindow
    from ferapp.gui.startup_watch import StartupWatch

    scripted = bool(
        getattr(args, "snapshot", None)
        or getattr(args, "screen_snapshot", None)
        or getattr(args, "exit_after", None) is not None
    )
    win = MainWindow(
        source=getattr(args, "source", None),
        model=getattr(args, "model", None),
        detector=getattr(args, "detector", None),
        driver=bool(getattr(args, "driver", False)),
        min_face=getattr(args, "min_face", None),
        persist=not scripted,
    )
    if getattr(args, "snapshot", None):
        win.resize(1360, 820)  # a fixed, documented size for self-check screenshots
    watch = StartupWatch(win)
    landmarks.join()
    win.show()
    watch.build_started()
    win.start()
    return app, win, watch


def run_gui(args: argparse.Namespace | None = None) -> int:
    """Create the application and main window, start capture, run the event loop."""
    if args is None:
        args = add_gui_arguments(argparse.ArgumentParser()).parse_args([])
    import os

    problem = validate_gui_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        print(
            "error: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop, or set "
            "QT_QPA_PLATFORM=offscreen for a headless self-check with --snapshot.",
            file=sys.stderr,
        )
        return 2
    app, win, watch = open_window(args)
    from PySide6.QtCore import QTimer

    result = {"code": 0}
    exit_after = getattr(args, "exit_after", None)
    snapshot = getattr(args, "snapshot", None)
    if (snapshot or getattr(args, "screen_snapshot", None)) and exit_after is None:
        exit_after = 5.0
    if exit_after is not None:

        def finish() -> None:
            import json

            print("startup " + json.dumps(watch.figures()), flush=True)  # read by `ferapp bench`
            if win.runner is not None:  # self-check figures (read by `ferapp bench`)
                import dataclasses

                st = dataclasses.asdict(win.runner.stats())
                st["model"] = win.pipeline.model_name if getattr(win, "pipeline", None) else None
                print("stats " + json.dumps(st), flush=True)
            screen_png = getattr(args, "screen_snapshot", None)
            if screen_png:
                shot = app.primaryScreen().grabWindow(0)  # the display's framebuffer, not Qt's own render
                if not shot.save(str(screen_png)):
                    print(f"error: could not write screen snapshot '{screen_png}'", file=sys.stderr)
                    result["code"] = 1
                else:
                    print(
                        f"screen snapshot saved: {screen_png} ({shot.width()}x{shot.height()}, "
                        f"platform {app.platformName()})"
                    )
            if snapshot:
                out = Path(snapshot)
                out.parent.mkdir(parents=True, exist_ok=True)
                if not win.grab().save(str(out)):
                    print(f"error: could not write snapshot '{out}'", file=sys.stderr)
                    result["code"] = 1
                else:
                    print(f"snapshot saved: {out}")
            win.close()
            app.quit()

        QTimer.singleShot(int(float(exit_after) * 1000), finish)
    code = app.exec()
    if win.isVisible():
        win.close()
    from ferapp.gui.bridge import wait_for_jobs

    wait_for_jobs(cancel=True)  # e.g. a model still loading when --exit-after fired, an analysis running
    if getattr(win, "pipeline", None) is not None:
        win.pipeline.close()
    win.deleteLater()
    return result["code"] or int(code or 0)


def main(argv: list[str] | None = None) -> int:
    parser = add_gui_arguments(argparse.ArgumentParser(prog="ferapp-gui", description="ferapp desktop app"))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_gui(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
