"""No function or method in ``ferapp/`` is longer than ``max-lines`` (pyproject.toml,
``[tool.ferapp.function-length]``), counted as the lines on which its ``def`` and its statements
start, docstring excluded: a measure of the code, not of how ``ruff format`` wraps a call's
arguments or a long expression over several lines (nor of comments and blank lines). Exemptions are listed there by ``path::Qualified.name`` with a reason; an exemption
that no longer applies fails too, so the list only shrinks."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _settings() -> tuple[int, dict[str, str]]:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ferapp"]["function-length"]
    return int(cfg["max-lines"]), dict(cfg.get("exempt", {}))


def function_lengths(source: str, path: str) -> dict[str, int]:
    """``path::Qualified.name`` -> lines of every function in ``source`` (nested ones too:
    their lines also count in the enclosing function)."""
    out: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, ast.FunctionDef | ast.AsyncFunctionDef):
                first = ch.body[0]
                doc = (
                    first
                    if isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                    else None
                )
                lines = {ch.lineno} | {
                    s.lineno for s in ast.walk(ch) if isinstance(s, ast.stmt) and s is not ch and s is not doc
                }
                out[f"{path}::{prefix}{ch.name}"] = len(lines)
                walk(ch, f"{prefix}{ch.name}.")
            elif isinstance(ch, ast.ClassDef):
                walk(ch, f"{prefix}{ch.name}.")
            else:
                walk(ch, prefix)

    walk(ast.parse(source), "")
    return out


def _all_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for p in sorted((REPO / "ferapp").rglob("*.py")):
        lengths.update(function_lengths(p.read_text(encoding="utf-8"), p.relative_to(REPO).as_posix()))
    return lengths


def test_the_measure_counts_lines_without_the_docstring():
    body = "\n".join(f"    x{i} = {i}" for i in range(58))
    method_body = "\n".join(f"        x{i} = {i}" for i in range(58))
    src = (
        f'def short():\n    """Doc\n    string."""\n{body}\n    return 0\n\n\n'
        f"class A:\n    def long(self):\n{method_body}\n\n        def inner():\n            return 2\n"
        f"        return 1\n"
    )
    got = function_lengths(src, "m.py")
    assert got["m.py::short"] == 60  # def + 58 + return; the 2-line docstring does not count
    assert got["m.py::A.long"] == 62  # def + 58 + inner's 2 + return; the blank line does not count
    assert got["m.py::A.long.inner"] == 2
    wrapped = "def call():\n    return f(\n        1,\n        2,\n    )\n"
    assert function_lengths(wrapped, "w.py")["w.py::call"] == 2  # a call wrapped by the formatter is one line


def test_no_function_in_ferapp_is_longer_than_the_limit():
    limit, exempt = _settings()
    too_long = {name: n for name, n in _all_lengths().items() if n > limit and name not in exempt}
    assert not too_long, (
        f"functions over {limit} lines (split them into named helpers, or list them under "
        f"[tool.ferapp.function-length] exempt in pyproject.toml with a reason): "
        + ", ".join(f"{k} ({v})" for k, v in sorted(too_long.items(), key=lambda kv: -kv[1]))
    )


def test_every_exemption_still_applies():
    limit, exempt = _settings()
    lengths = _all_lengths()
    assert all(reason.strip() for reason in exempt.values()), "every exemption needs a reason"
    stale = [name for name in exempt if lengths.get(name, 0) <= limit]
    assert not stale, (
        f"remove these exemptions from pyproject.toml (gone or now within {limit} lines): {stale}"
    )
