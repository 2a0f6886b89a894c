"""The window's command-line arguments and their checks, Qt-free: ``ferapp --help`` and
``ferapp gui --detector xyz`` are answered without loading PySide6 (``ferapp.gui`` is imported
only when the window really starts)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_gui_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from ferapp.config import settings
    from ferapp.detect.registry import DetectorHelp  # no dlib, OpenCV or torch

    det = settings().detection
    g = parser.add_argument_group("GUI")
    g.add_argument(
        "--source",
        metavar="SPEC",
        default=None,
        help="camera index (0), video/image/folder path, or 'demo' / 'demo:2' / 'demo:4' / 'demo:driver' "
        "(default: last used, else the first camera, else the demo)",
    )
    g.add_argument(
        "--model", metavar="NAME", default=None, help="trained model name, model folder or architecture"
    )
    g.add_argument(
        "--detector",
        metavar="NAME",
        default=None,
        help=DetectorHelp(None, f"(default: the saved setting, else {det.detector})"),
    )
    g.add_argument(
        "--min-face",
        metavar="PX",
        type=float,
        default=None,
        help=f"smallest face width to find, in video pixels (default: the saved setting, else "
        f"{det.min_face:g})",
    )
    g.add_argument(
        "--snapshot",
        metavar="PNG",
        default=None,
        help="save a screenshot of the window to PNG when --exit-after elapses",
    )
    g.add_argument(
        "--screen-snapshot",
        metavar="PNG",
        default=None,
        help="also save the whole screen as the display server shows it (the CI window check)",
    )
    g.add_argument(
        "--exit-after",
        metavar="SECONDS",
        type=float,
        default=None,
        help="run for SECONDS, then (snapshot and) exit",
    )
    g.add_argument("--driver", action="store_true", help="start with driver monitoring on")
    return parser


def validate_gui_args(args: argparse.Namespace) -> str | None:
    """The CLI's checks for the window's arguments, before any window opens: the message of the
    first bad value, or None. (Nothing here loads a model; names are checked against the store.)"""
    import math

    det = getattr(args, "detector", None)
    if det is not None:
        from ferapp.detect.registry import list_detectors  # no dlib, OpenCV or torch

        if det not in list_detectors():
            return f"unknown detector {det!r}; known: {', '.join(list_detectors())}"
    model = getattr(args, "model", None)
    if model is not None and not Path(model).exists():
        from ferapp.zoo.catalog import known_names  # no torch

        if model not in known_names():
            return (
                f"unknown model {model!r}: not a model folder, checkpoint, trained model or architecture "
                "(see `ferapp models`)"
            )
    source = getattr(args, "source", None)
    if source is not None:
        from ferapp.capture import SourceError, parse_source_spec

        try:
            parse_source_spec(source)
        except SourceError as e:
            return str(e)
    mf = getattr(args, "min_face", None)
    if mf is not None:
        from ferapp.config import settings

        lo, hi = settings().detection.min_face_range
        if not (math.isfinite(mf) and lo <= mf <= hi):
            return f"--min-face must be in [{lo:g}, {hi:g}], not {mf:g}"
    ea = getattr(args, "exit_after", None)
    if ea is not None and not (math.isfinite(ea) and 0 < ea <= 86400):
        return f"--exit-after must be a number of seconds > 0, not {ea:g}"
    return None
