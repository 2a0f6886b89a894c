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
    from ferapp.zoo import get_model_cfg, list_models, list_papers
    from ferapp.zoo.store import default_model_name, list_trained_models

    trained = list_trained_models()
    default = default_model_name()
    by_paper: dict[str, list[str]] = {}
    for name in list_models():
        by_paper.setdefault(get_model_cfg(name).paper, []).append(name)
    papers = list_papers()
    if args.json:
        print(json.dumps({
            "default": default,
            "trained": [{"name": e.name, "arch": e.arch, "path": str(e.path), "shipped": e.shipped,
                         **{k: v for k, v in (e.meta or {}).items() if isinstance(v, int | float | str)}}
                        for e in trained],
            "architectures": list_models(),
            "papers": [{"key": p.key, "title": p.title, "protocols": list(p.protocols),
                        "architectures": by_paper.get(p.key, [])} for p in papers],
        }, indent=2))
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
        print(f" {mark} {e.name:<22} {e.arch:<18} acc {acc_s:<28} {lat_s} {'(shipped)' if e.shipped else '(user)'}")
    print("\nArchitectures (untrained), by paper:")
    groups = [(f"{p.label} (paper protocols: {', '.join(p.protocols) or 'none'})", by_paper.get(p.key, []))
              for p in papers]
    known = {p.key for p in papers}
    groups.append(("Other architectures", [n for k, ns in by_paper.items() if k not in known for n in ns]))
    for title, names in groups:
        if names:
            print(f"  {title}")
        for name in names:
            cfg = get_model_cfg(name)
            print(f"   {name:<22} {cfg.paper:<4} input {cfg.input_size[0]}x{cfg.input_size[1]}x{cfg.channels}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferapp", description="Real-time facial expression recognition.")
    parser.add_argument("--version", action="version", version=f"ferapp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    _add_gui(sub)
    _optional(sub, "ferapp.inference.commands", "add_parser")  # analyze: one source or a batch
    _add_models(sub)
    _optional(sub, "ferapp.train.commands")
    _optional(sub, "ferapp.data.cli", "add_parser")
    _optional(sub, "ferapp.bench", "add_parser")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the heavy imports (torch, Qt) are still loading
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] not in parser._subparsers._group_actions[0].choices and argv[0] not in (
            "-h", "--help", "--version", "-v", "--verbose"):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "command", None) is None:
        args = parser.parse_args(["gui"])
    return int(args.func(args) or 0)
