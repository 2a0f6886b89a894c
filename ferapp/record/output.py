"""Claiming an output file: never write over anything this run did not create.

``OutputClaim(path, suffix=".csv", inputs=..., overwrite=False)`` checks, before a byte is
written, that the path has the right suffix, is none of the run's inputs (the video being
analysed, a model file...), and does not exist (``overwrite=True`` allows replacing it, and the
replacement is atomic: the run writes ``<stem>.part<suffix>`` and renames it over the old file only when
it is finalised, so an interrupted run leaves the old file intact). The file is created
exclusively (``O_EXCL``) and a lock file (``<name>.lock``, ``flock``) is held while it is
written, so a second run aiming at the same output gets a clear error instead of interleaving
its rows. Qt-free; used by the timeline writer (CLI and GUI) and the annotated-MP4 writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class OutputError(Exception):
    """The output cannot be claimed (the message is meant for the user)."""


class OutputIOError(OutputError):
    """The system refused to create the output (folder missing, permissions, a file in the way)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"Cannot write '{path}': {reason}")
        self.path, self.reason = path, reason


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_input(path: Path, inputs: Iterable[str | os.PathLike | None]) -> None:
    for inp in inputs:
        if inp is None:
            continue
        ip = Path(inp)
        if _same_file(path, ip):
            raise OutputError(f"the output '{path}' is the input '{inp}': choose another --out "
                              "(ferapp never writes over its inputs)")


class OutputClaim:
    """An output file owned by this run until ``commit()`` (or ``release()`` on failure)."""

    def __init__(self, path: str | os.PathLike, suffix: str = ".csv",
                 inputs: Iterable[str | os.PathLike | None] = (), overwrite: bool = False):
        self.final = Path(path)
        if self.final.suffix.lower() != suffix:
            raise OutputError(f"the output must be a {suffix} file, not '{self.final}' "
                              f"(e.g. {self.final.with_suffix(suffix).name})")
        check_not_input(self.final, inputs)
        if self.final.is_dir():
            raise OutputError(f"the output '{self.final}' is a folder")
        self.overwrite = bool(overwrite)
        self._lock_fh = None
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputIOError(self.final, str(e.strerror or e)) from e
        self._lock()
        if self.final.exists() and not self.overwrite:
            self.release()
            raise OutputError(f"'{self.final}' already exists: choose another name, or pass --overwrite "
                              "to replace it")
        # with overwrite, write beside the old file and swap at the end (atomic replace); the
        # temporary name keeps the suffix (video writers choose the codec by it)
        self.path = (self.final.with_name(self.final.stem + ".part" + self.final.suffix)
                     if self.final.exists() else self.final)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        except FileExistsError:
            if self.path != self.final:  # a stale .part of an interrupted run (we hold the lock)
                os.unlink(self.path)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
            else:
                self.release()
                raise OutputError(f"'{self.final}' was created by another program just now") from None
        except OSError as e:
            self.release()
            raise OutputIOError(self.final, str(e.strerror or e)) from e
        os.close(fd)

    @property
    def lock_path(self) -> Path:
        return self.final.with_name(self.final.name + ".lock")

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: O_EXCL creation still refuses a second writer
            return
        try:
            fh = open(self.lock_path, "a+")  # noqa: SIM115 - held for the whole recording
        except OSError as e:
            raise OutputIOError(self.final, str(e.strerror or e)) from e
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise OutputError(f"'{self.final}' is being written by another ferapp run right now") from None
        self._lock_fh = fh

    def commit(self) -> Path:
        """The output is complete: move a replacement into place, drop the lock."""
        if self.path != self.final:
            os.replace(self.path, self.final)
            self.path = self.final
        self.release()
        return self.final

    def release(self) -> None:
        fh, self._lock_fh = self._lock_fh, None
        if fh is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            fh.close()


__all__ = ["OutputClaim", "OutputError", "OutputIOError", "check_not_input"]
