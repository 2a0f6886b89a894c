"""ferapp: real-time facial expression recognition built on five FER papers."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Apple MPS: an operation the Metal backend lacks runs on the CPU (torch warns once per
# operation) instead of failing. torch reads this when it is imported, so it is set here, before
# any ferapp module imports torch; a user's own setting wins. (ferapp.inference.device catches
# what this cannot: the variable set to 0, or torch imported before ferapp.)
if _sys.platform == "darwin":
    _os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")


def resources_dir():
    """Folder with demo media, icons and sounds shipped with ferapp."""
    from ferapp.paths import resources_dir as _rd

    return _rd()
