"""Names of models saved to the user's store (Qt-free): the rule, its message, the default.

A name is 1-64 characters of letters, digits, ``_``, ``.`` and ``-``, starting with a letter or
digit, so it is a safe folder name on every platform and never hidden (``.``-prefixed). The
names of the models shipped with ferapp are reserved (in any letter case): a user model named
``resnet20_kd_fer2013`` would otherwise stand in for the shipped default in every run.
``suggest_model_name(arch, dataset_path)`` is what the training wizard proposes:
``<arch>_<dataset file stem>`` with ``+`` spelt ``p`` (CK+48 -> CKp48) and anything else outside
the rule replaced by ``_``.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.\-]")


def shipped_model_names() -> set[str]:
    """Lower-case names of the model folders shipped with ferapp (reserved for them)."""
    from ferapp.paths import shipped_models_dir

    try:
        return {d.name.lower() for d in shipped_models_dir().iterdir() if (d / "config.json").is_file()}
    except OSError:
        return set()


def model_name_error(name: str) -> str:
    """Why ``name`` (surrounding blanks ignored) cannot be a saved model's name; "" if it can."""
    name = name.strip()
    if not name:
        return "Give the model a name."
    if not NAME_RE.match(name):
        return "Use letters, digits, '_', '-' or '.', starting with a letter or digit (at most 64)."
    if name.lower() in shipped_model_names():
        return f"'{name}' is the name of a model shipped with ferapp: choose another (e.g. {name}_mine)."
    return ""


def suggest_model_name(arch: str, dataset_path: str | None) -> str:
    """``<arch>_<stem of dataset_path>`` ("data" without a dataset), made of allowed characters."""
    stem = Path(dataset_path).stem.replace("+", "p") if dataset_path is not None else "data"
    return _NOT_ALLOWED.sub("_", f"{arch}_{stem}")
