"""Test-only: on PYTHONPATH (tests/test_distributed.py), every Python process started under it
(the workers of ``ferapp train --nproc``) installs ``tests._dist_worker``'s test hooks (write
audit, fault injection) when the environment asks for them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests._dist_worker import install_test_hooks  # noqa: E402

install_test_hooks()
