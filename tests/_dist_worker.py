"""A torchrun worker for the distributed tests (``python -m torch.distributed.run ... tests/_dist_worker.py MODE ...``).

Modes:
  cases OUT      train every case of ``tests._dist_cases.CASES`` in this process group; rank 0
                 saves each case's final state dict as OUT/<case>.pt and its history as OUT/<case>.json
  cli ARGS...    ``ferapp ARGS...`` (the real CLI worker path)

Test hooks from the environment (:func:`install_test_hooks`, in every mode; in the workers of
``ferapp train --nproc`` too when ``tests/dist_site`` is on PYTHONPATH, whose sitecustomize.py
calls it):
  FERAPP_TEST_AUDIT=DIR     each rank but 0 records every file it opens for writing, creates,
                            renames or removes under DIR into DIR/../audit.rank<R>.txt (the test
                            checks that rank 0 alone writes)
  FERAPP_TEST_KILL_STEP=k   rank 1 SIGKILLs itself before its k-th training step (first attempt
                            only: the elastic restart runs clean)
  FERAPP_TEST_FAIL_STEP=k   rank 1 raises before its k-th training step
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def install_test_hooks() -> None:
    """The hooks the environment asks for, in a torchrun worker (RANK set); nothing elsewhere."""
    if "RANK" not in os.environ:
        return
    if os.environ.get("FERAPP_TEST_AUDIT") and os.environ["RANK"] != "0":
        _audit(Path(os.environ["FERAPP_TEST_AUDIT"]), int(os.environ["RANK"]))
    _inject_faults()


def _audit(root: Path, rank: int) -> None:
    root = root.resolve()
    log = root.parent / f"audit.rank{rank}.txt"
    seen: list[str] = []

    def under(p) -> bool:
        try:
            return Path(os.fsdecode(p)).resolve().is_relative_to(root)
        except (TypeError, ValueError, OSError):
            return False

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writes and path is not None and not isinstance(path, int) and under(path):
                seen.append(f"open {path}")
        elif (
            event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree")
            and args
            and under(args[0])
        ):
            seen.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    import atexit

    atexit.register(lambda: log.write_text("\n".join(seen) + "\n"))


def _inject_faults() -> None:
    rank = int(os.environ.get("RANK", "0"))
    kill = int(os.environ.get("FERAPP_TEST_KILL_STEP", "0") or 0)
    fail = int(os.environ.get("FERAPP_TEST_FAIL_STEP", "0") or 0)
    if rank != 1 or not (kill or fail):
        return
    if kill and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0":
        return
    from ferapp.train import strategies

    orig = strategies.Backprop.step
    calls = [0]

    def step(self, *a, **k):
        calls[0] += 1
        if kill and calls[0] == kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if fail and calls[0] == fail:
            raise RuntimeError("injected failure on rank 1")
        return orig(self, *a, **k)

    strategies.Backprop.step = step


def _cases(out: Path) -> int:
    import torch

    from ferapp.train import distributed
    from tests._dist_cases import CASES, run_case

    ctx = distributed.init("cpu", 120.0)
    assert ctx.world_size > 1, "run under torchrun with more than one process"
    for name in CASES:
        res, model = run_case(name)
        if ctx.is_main:
            torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out / f"{name}.pt")
            (out / f"{name}.json").write_text(
                json.dumps({"outcome": res.outcome, "message": res.message, "history": res.history})
            )
    distributed.shutdown()
    return 0


def main() -> int:
    mode, rest = sys.argv[1], sys.argv[2:]
    install_test_hooks()
    if mode == "cases":
        return _cases(Path(rest[0]))
    from ferapp.cli import main as ferapp_main

    return ferapp_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
