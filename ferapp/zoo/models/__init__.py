"""One module per paper; importing this package imports every module in it, which fills the
registry: a new model is one new file here (``pN_name.py``) that calls ``register_model``."""

import importlib
import pkgutil


def import_all() -> list[str]:
    """Import every module of this package (sorted by name, so P1 registers first); -> their names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


import_all()
