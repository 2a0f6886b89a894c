"""Command line: `ferapp` opens the GUI; subcommands analyze / models / train / eval / bench / data / gui."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ferapp import __version__

log = logging.getLogger("ferapp")


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list architectures and trained models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    from ferapp.scope import beats_baselines, model_score
    from ferapp.zoo import get_model_cfg, list_models, list_papers  # no torch until a model loads
    from ferapp.zoo.catalog import default_model_name, list_trained_models  # no torch

    trained = list_trained_models()
    default = default_model_name()
    by_paper: dict[str, list[str]] = {}
    for name in list_models():
        by_paper.setdefault(get_model_cfg(name).paper, []).append(name)
    papers = list_papers()
    if args.json:
        print(
            json.dumps(
                {
                    "default": default,
                    "trained": [
                        {
                            "name": e.name,
                            "arch": e.arch,
                            "path": str(e.path),
                            "shipped": e.shipped,
                            **{k: v for k, v in (e.meta or {}).items() if isinstance(v, int | float | str)},
                        }
                        for e in trained
                    ],
                    "architectures": list_models(),
                    "papers": [
                        {
                            "key": p.key,
                            "title": p.title,
                            "protocols": list(p.protocols),
                            "architectures": by_paper.get(p.key, []),
                        }
                        for p in papers
                    ],
                },
                indent=2,
            )
        )
        return 0
    print("Trained models:")
    if not trained:
        print("  (none yet: train one with `ferapp train`)")
    for e in trained:
        meta = e.meta or {}
        acc, where = model_score(meta)  # the figure with its dataset and protocol ("CK+48 subject 5-fold")
        acc_s = f"{100 * acc:.2f}% {where}".strip() if acc is not None else "n/a"
        if beats_baselines(meta) is False:
            acc_s += " (below baseline)"
        lat = meta.get("latency_ms")
        lat_s = f"{lat:.2f} ms/face" if isinstance(lat, int | float) else ""
        mark = "*" if e.name == default else " "
        print(
            f" {mark} {e.name:<22} {e.arch:<18} acc {acc_s:<28} {lat_s} {'(shipped)' if e.shipped else '(user)'}"
        )
    print("\nArchitectures (untrained), by paper:")
    groups = [
        (f"{p.label} (paper protocols: {', '.join(p.protocols) or 'none'})", by_paper.get(p.key, []))
        for p in papers
    ]
    known = {p.key for p in papers}
    groups.append(("Other architectures", [n for k, ns in by_paper.items() if k not in known for n in ns]))
    for title, names in groups:
        if names:
            print(f"  {title}")
        for name in names:
            cfg = get_model_cfg(name)
            print(
                f"   {name:<22} {cfg.paper:<4} input {cfg.input_size[0]}x{cfg.input_size[1]}x{cfg.channels}"
            )
    return 0


def _add_gui(sub) -> None:
    from ferapp.gui_cli import add_gui_arguments

    p = sub.add_parser("gui", help="open the desktop app (default when no command is given)")
    add_gui_arguments(p)
    p.set_defaults(func=cmd_gui)


def cmd_gui(args) -> int:
    from ferapp.gui_cli import validate_gui_args

    problem = validate_gui_args(args)  # before Qt loads: a typo costs no window
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        from ferapp.gui.app import run_gui
    except ImportError as e:  # Qt missing or broken: say so, no traceback
        print(f"error: the GUI cannot start: {e}", file=sys.stderr)
        return 2
    return run_gui(args)


# subcommands registered by their own modules: a module is imported only when its command runs
# (all of them for the top-level --help), so `ferapp models` never loads the dataset readers
_MODULE_COMMANDS = {
    "train": ("ferapp.train.commands", "add_parsers"),
    "eval": ("ferapp.train.commands", "add_parsers"),
    "data": ("ferapp.data.cli", "add_parser"),
    "bench": ("ferapp.bench", "add_parser"),
}
COMMANDS = ("gui", "analyze", "models", *_MODULE_COMMANDS)


def _optional(sub, module: str, fn: str = "add_parsers") -> None:
    """Register subcommands that live in their own modules."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return
    getattr(mod, fn)(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``command``) the top level plus that one subcommand's parser."""
    parser = argparse.ArgumentParser(prog="ferapp", description="Real-time facial expression recognition.")
    parser.add_argument("--version", action="version", version=f"ferapp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    _add_gui(sub)
    _optional(sub, "ferapp.inference.commands", "add_parser")  # analyze: one source or a batch
    _add_models(sub)
    if command in COMMANDS:
        wanted = [_MODULE_COMMANDS[command]] if command in _MODULE_COMMANDS else []
    else:  # the top-level --help lists every command
        wanted = list(_MODULE_COMMANDS.values())
    for module, fn in dict.fromkeys(wanted):
        _optional(sub, module, fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the heavy imports (torch, Qt) are still loading
        print("interrupted", file=sys.stderr)
        return 130


def _with_command(argv: list[str]) -> list[str]:
    """``argv`` with the command it runs first (``gui`` when none is named)."""
    if (
        not argv
        or argv[0] not in COMMANDS
        and argv[0] not in ("-h", "--help", "--version", "-v", "--verbose")
    ):
        return ["gui", *argv]
    return list(argv)


def run() -> None:
    """The ``ferapp`` program (console script and ``python -m ferapp``): ``main()``, then the
    end of the process. A command other than the window ends without the interpreter's
    teardown of every loaded module, which after ``import torch`` costs ~1 CPU-s (measured on a
    loaded 2-core AMD EPYC: 1.06 s of a 4.5 s ``import torch`` process; os._exit: ~0): threads
    are joined, atexit handlers run and output is flushed first, as a normal exit does. The
    window exits normally (Qt objects save their settings when destroyed)."""
    argv = sys.argv[1:]
    code = main(argv)
    if _with_command(argv)[0] == "gui" or "torch" not in sys.modules:
        raise SystemExit(code)
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> None:
    import atexit
    import os
    import threading

    if not hasattr(atexit, "_run_exitfuncs"):  # not CPython: a normal exit
        raise SystemExit(code)
    try:
        for t in threading.enumerate():
            if t is not threading.current_thread() and not t.daemon:
                t.join()
        atexit._run_exitfuncs()  # what a normal exit runs (logging.shutdown, worker joins, ...)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (ferapp ... | head): nothing left to say
                pass
        os._exit(code)


def _main(argv: list[str] | None = None) -> int:
    argv = _with_command(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if getattr(args, "command", None) is None:
        args = parser.parse_args(["gui"])
    return int(args.func(args) or 0)
