"""Claiming an output file: never write over anything this run did not create.

``OutputClaim(path, suffix=".csv", inputs=..., overwrite=False)`` checks, before a byte is
written, that the path has the right suffix, is none of the run's inputs (compared as the
files are on disk: resolved path and (device, inode), so ``file://``, ``~`` or a hard link
are no way around it), and does not exist (``overwrite=True`` allows replacing it). It then
holds a lock (``.<name>.ferapp-lock``, ``flock``) until ``commit()`` / ``release()``, so a
second run aiming at the same output gets a clear error instead of interleaving its rows.

The claim creates nothing: a writer creates the file when it starts writing (``opener`` /
``create()``), so a run that claims several outputs and is refused one of them leaves no
file behind. Every file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (never an existing
file, never through a symbolic link) and mode ``0o666`` less the umask. Where the output is
written depends on the claim:

- a new output is written in place (a crash leaves a recoverable recording), unless
  ``temp=True`` (batch analysis: a file appears under its final name only when complete);
- a replaced output (``overwrite``) and a ``temp`` one are written under a hidden name unique
  to the run, ``.<stem>.<pid>-<random>.part<suffix>``, and moved into place by ``commit()``
  (atomic; an interrupted run leaves the old file intact);
- ``private_dir=True`` (the annotated MP4, which OpenCV opens by name) writes inside a fresh
  ``0700`` folder ``.<stem>.<pid>-<random>.part/`` beside the output.

A temporary file is deleted only by the run that created it (``abort()``); a lock file only by
its holder, while it still holds it (a run that opened it just before re-checks the inode after
locking and starts again). Qt-free; used by the timeline writer (CLI and GUI), the annotated
MP4 writer and batch analysis.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o666  # less the umask, like any file a program creates (CSV, sidecar, video alike)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
LOCK_SUFFIX = ".ferapp-lock"
_LOCK_MARK = b"ferapp output lock\n"


class OutputError(Exception):
    """The output cannot be claimed (the message is meant for the user)."""


class OutputIOError(OutputError):
    """The system refused to create the output (folder missing, permissions, a file in the way)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"Cannot write '{path}': {reason}")
        self.path, self.reason = path, reason


def _reason(e: OSError) -> str:
    return str(e.strerror or e)


# -- creating files ------------------------------------------------------------------------
def run_tag() -> str:
    """A name part unique to this run and call: ``<pid>-<8 hex digits>``."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def temp_path(final: Path, tag: str | None = None) -> Path:
    """The hidden name a replacement of ``final`` is written under (suffix kept: video writers
    pick the codec by it, and the sidecar of ``.a.<tag>.part.csv`` is ``.a.<tag>.part.json``)."""
    return final.with_name(f".{final.stem}.{tag or run_tag()}.part{final.suffix}")


def create_new(path: str | os.PathLike) -> int:
    """Create ``path`` (never an existing file, never through a link); returns a write fd."""
    return os.open(path, CREATE_FLAGS, FILE_MODE)


def create_unique(final: Path, name_for=temp_path) -> tuple[Path, int]:
    """Create a fresh file named ``name_for(final, tag)`` with a new tag until one is free."""
    for _ in range(100):
        p = name_for(final, run_tag())
        try:
            return p, create_new(p)
        except FileExistsError:
            continue
    raise OutputIOError(final, "no free temporary name")  # pragma: no cover - 100 random misses


def _tmp_name(final: Path, tag: str) -> Path:
    return final.with_name(f".{final.name}.{tag}.tmp")


def replace_atomically(final: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a fresh temporary file beside ``final``, fsync it and rename it over
    ``final`` (a crash leaves the old file or the new one, never half of one; a symbolic link
    at ``final`` is replaced, never followed). Raises OSError."""
    final = Path(final)
    tmp, fd = create_unique(final, _tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        _unlink_quietly(tmp)  # ours: created above with O_EXCL
        raise
    return final


def _unlink_quietly(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def place_new(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` only if nothing is at ``dst`` (hard link + unlink: atomic, and
    never over a file another program created meanwhile). Raises FileExistsError / OSError."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (
            errno.EPERM,
            errno.EOPNOTSUPP,
            errno.ENOTSUP,
            errno.EXDEV,
            errno.EMLINK,
            errno.ENOSYS,
            errno.EACCES,
        ):
            raise
        if os.path.lexists(dst):  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


# -- inputs --------------------------------------------------------------------------------
def _identity(p: Path) -> tuple[Path, tuple[int, int] | None]:
    try:
        st = os.stat(p)
        ino = (st.st_dev, st.st_ino) if st.st_ino else None  # some file systems report no inode
    except (OSError, ValueError):
        ino = None
    try:
        resolved = Path(os.path.abspath(p)).resolve()
    except (OSError, RuntimeError, ValueError):
        resolved = Path(os.path.abspath(p))
    return resolved, ino


class InputFile:
    """An input as it was opened: its resolved path and (device, inode), taken at open time."""

    def __init__(self, path: str | os.PathLike):
        self.spelled = str(path)
        self.path, self.inode = _identity(Path(path))

    def __repr__(self) -> str:
        return f"InputFile({self.spelled!r})"


def input_file(spec: str | os.PathLike | InputFile) -> InputFile:
    """``spec`` as the file it names: ``file://``, surrounding blanks and ``~`` are read the way
    the source reader reads them (``ferapp.capture.parse_source_spec``)."""
    if isinstance(spec, InputFile):
        return spec
    s = os.fspath(spec)
    if isinstance(s, str):
        s = s.strip()
        if s.lower().startswith("file://"):
            s = s[7:]
        s = os.path.expanduser(s)
    return InputFile(s)


def check_not_input(path: Path, inputs: Iterable[str | os.PathLike | InputFile | None]) -> None:
    """Refuse ``path`` when it is one of ``inputs``, however either is spelled."""
    out_path, out_ino = _identity(Path(path))
    for inp in inputs:
        if inp is None:
            continue
        f = input_file(inp)
        if out_path == f.path or (out_ino is not None and out_ino == f.inode):
            raise OutputError(
                f"the output '{path}' is the input '{f.spelled}': choose another output "
                "(ferapp never writes over its inputs)"
            )


# -- the claim -----------------------------------------------------------------------------
class OutputClaim:
    """An output file owned by this run until ``commit()`` (or ``abort()`` / ``release()``)."""

    def __init__(
        self,
        path: str | os.PathLike,
        suffix: str = ".csv",
        inputs: Iterable[str | os.PathLike | InputFile | None] = (),
        overwrite: bool = False,
        temp: bool = False,
        private_dir: bool = False,
    ):
        self.final = Path(path)
        if self.final.suffix.lower() != suffix:
            raise OutputError(
                f"the output must be a {suffix} file, not '{self.final}' "
                f"(e.g. {self.final.with_suffix(suffix).name})"
            )
        self.inputs = [input_file(i) for i in inputs if i is not None]
        check_not_input(self.final, self.inputs)
        if self.final.is_dir():
            raise OutputError(f"the output '{self.final}' is a folder")
        self.overwrite = bool(overwrite)
        self._lock_fd: int | None = None
        self._created: Path | None = None  # the file (or private folder) this run created
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputIOError(self.final, _reason(e)) from e
        self._lock()
        exists = os.path.lexists(self.final)
        if exists and not self.overwrite:
            self.release()
            raise OutputError(
                f"'{self.final}' already exists: choose another name, or pass --overwrite to replace it"
            )
        self.replacing = exists
        self._private = bool(private_dir)
        self.in_place = not (exists or temp or private_dir)
        self.path = self.final  # where the writer writes; set by create() when it is not in place

    # -- creating ---------------------------------------------------------------------------
    def create(self) -> int:
        """Create the file to write (once) and return its fd (``O_EXCL|O_NOFOLLOW``)."""
        if self._created is not None:
            raise OutputError(f"'{self.final}' was already created by this run")
        try:
            if self.in_place:
                try:
                    fd = create_new(self.final)
                except FileExistsError:
                    raise OutputError(f"'{self.final}' was created by another program just now") from None
                self.path = self._created = self.final
            elif self._private:
                self.path = self.private_path()
                fd = create_new(self.path)
            else:
                self.path, fd = create_unique(self.final)
                self._created = self.path
        except OSError as e:
            raise OutputIOError(self.final, _reason(e)) from e
        return fd

    def opener(self, _path: str, _flags: int) -> int:
        """``open(claim.path, "w", opener=claim.opener)``: the file object of ``create()``."""
        return self.create()

    def private_path(self) -> Path:
        """For writers that open the file by name (OpenCV): a path inside a fresh folder only
        this user can enter, created now."""
        if self._created is None:
            for _ in range(100):
                d = self.final.with_name(f".{self.final.stem}.{run_tag()}.part")
                try:
                    os.mkdir(d, 0o700)
                except FileExistsError:
                    continue
                except OSError as e:
                    raise OutputIOError(self.final, _reason(e)) from e
                self._created = d
                break
            else:  # every fresh name was taken: say so (this used to be a TypeError on None)
                raise OutputIOError(
                    self.final, f"no free temporary folder name next to it (tried 100, like {d.name})"
                )
        self.path = self._created / self.final.name
        return self.path

    # -- finishing --------------------------------------------------------------------------
    def commit(self) -> Path:
        """The output is complete: move it into place (atomically), drop the lock."""
        try:
            if self.path != self.final:
                check_not_input(self.final, self.inputs)  # the final name may have changed meanwhile
                if self.overwrite:
                    os.replace(self.path, self.final)
                else:
                    try:
                        place_new(self.path, self.final)
                    except FileExistsError:
                        self._created = None  # kept for the user: no abort() deletes it now
                        raise OutputError(
                            f"'{self.final}' was created by another program while this run "
                            f"wrote it; this run's output is kept as '{self.path}'"
                        ) from None
                if self._private and self._created is not None:
                    shutil.rmtree(self._created, ignore_errors=True)
                self.path = self.final
            self._created = None
        finally:
            self.release()
        return self.final

    def abort(self) -> None:
        """Give the output up: delete what this run created under a temporary name (a file
        written in place is a recording and is kept), drop the lock."""
        try:
            created, self._created = self._created, None
            if created is not None and created != self.final:
                if self._private:
                    shutil.rmtree(created, ignore_errors=True)
                else:
                    _unlink_quietly(created)
        finally:
            self.release()

    # -- the lock ---------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.final.with_name(f".{self.final.name}{LOCK_SUFFIX}")

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: O_EXCL creation still refuses a second writer
            return
        lp = self.lock_path
        for _ in range(1000):
            try:
                fd = os.open(lp, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC, FILE_MODE)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise OutputError(
                        f"'{lp}' is a symbolic link: ferapp keeps its lock for "
                        f"'{self.final.name}' there; remove the link"
                    ) from None
                raise OutputIOError(self.final, _reason(e)) from e
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise OutputError(
                        f"'{lp}' is not a regular file: ferapp keeps its lock for "
                        f"'{self.final.name}' there; remove it"
                    )
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise OutputError(
                        f"'{self.final}' is being written by another ferapp run right now"
                    ) from None
                # the usual pattern: the file we locked must still be the one at the path (its
                # holder may have removed it between our open and our lock)
                try:
                    cur = os.stat(lp, follow_symlinks=False)
                except FileNotFoundError:
                    cur = None
                if cur is None or (cur.st_dev, cur.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    continue
                mark = os.pread(fd, len(_LOCK_MARK) + 1, 0)
                if mark == b"":
                    os.pwrite(fd, _LOCK_MARK, 0)
                elif mark != _LOCK_MARK:
                    raise OutputError(
                        f"'{lp}' is in the way (not a ferapp lock file): ferapp keeps its lock "
                        f"for '{self.final.name}' there; move that file"
                    )
            except BaseException:
                os.close(fd)
                raise
            self._lock_fd = fd
            return
        raise OutputError(f"could not lock '{self.final}': other runs keep taking it")  # pragma: no cover

    def release(self) -> None:
        """Drop the lock (removing the lock file while still holding it)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            st = os.fstat(fd)
            cur = os.stat(self.lock_path, follow_symlinks=False)
            if (cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(self.lock_path)
        except OSError:
            pass
        finally:
            os.close(fd)


__all__ = [
    "FILE_MODE",
    "InputFile",
    "OutputClaim",
    "OutputError",
    "OutputIOError",
    "check_not_input",
    "create_new",
    "create_unique",
    "input_file",
    "place_new",
    "replace_atomically",
    "run_tag",
    "temp_path",
]
