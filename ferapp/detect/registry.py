"""The face-detector registry: every detector the finder, the CLI, the GUI and the bench know.

A detector is declared by a :class:`DetectorSpec`: its name, a one-line summary (the CLI's help
and the GUI's detector list are generated from it) and its factory, ``factory(min_face=...,
**kw) -> FaceDetector`` (``ferapp.detect.base``). The factory may be given as text,
``"package.module:attribute"``, imported only when the detector is created: listing detectors
imports no dlib, OpenCV or torch (``ferapp --help`` and argument errors stay cheap).

Detectors come from three places:

- the built-ins, declared at the end of this file (classes in ``ferapp.detect.detectors``);
- any module: ``register_detector("mine", MyDetector, summary=...)``, or ``@register_detector("mine")``
  on the class; ``unregister_detector("mine")`` removes it again;
- installed distributions, through the entry-point group ``ferapp.detectors`` (see
  :data:`ENTRY_POINT_GROUP`), read on the first use of the registry. An entry point names a
  :class:`DetectorSpec` (loaded without importing the detector) or a factory (a detector class);
  a plugin that fails to load, names no factory or reuses a known name is skipped with a warning.

Names are case-sensitive; an unknown name fails with the known ones. This module imports only
the standard library (it is read before the app decides what else to load).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ferapp.config import settings

if TYPE_CHECKING:
    from ferapp.detect.base import FaceDetector

ENTRY_POINT_GROUP = "ferapp.detectors"
FROM_SETTINGS = "@settings"  # a help default that means "the settings' detector, when shown"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


class DetectorPluginWarning(RuntimeWarning):
    """A ``ferapp.detectors`` entry point that could not be used (it is skipped)."""


class DetectorError(RuntimeError):
    """A registered detector that cannot be imported, fails to start, or lacks members of the
    ``FaceDetector`` protocol (the CLI prints it as a one-line error, exit code 2)."""


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """One registered detector. ``factory``: a callable ``factory(min_face=..., **kw)`` returning a
    :class:`~ferapp.detect.base.FaceDetector`, or its ``"module:attribute"`` path (imported on
    create). ``summary``: a few words for help texts and tooltips ("dlib HOG, fast")."""

    name: str
    factory: Callable[..., Any] | str
    summary: str = ""
    origin: str = ""  # where it was declared: "ferapp", a module name, or "entry point <dist>"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                f"a detector name is 1-32 letters, digits, '_', '.' or '-' (starting with a letter "
                f"or digit), not {self.name!r}"
            )
        f = self.factory
        if isinstance(f, str):
            mod, _, attr = f.partition(":")
            if not mod or not attr:
                raise ValueError(
                    f"detector {self.name!r}: a factory path is 'package.module:attribute', not {f!r}"
                )
        elif not callable(f):
            raise TypeError(
                f"detector {self.name!r}: the factory must be callable or 'module:attribute', not {f!r}"
            )
        if "\n" in self.summary:
            raise ValueError(f"detector {self.name!r}: the summary is one line")

    def load_factory(self) -> Callable[..., Any]:
        """The factory itself (imports its module when it was given as a path)."""
        if not isinstance(self.factory, str):
            return self.factory
        mod, _, attr = self.factory.partition(":")
        obj: Any = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


_SPECS: dict[str, DetectorSpec] = {}
_LOCK = threading.RLock()
_plugins_loaded = False
_plugin_names: set[str] = set()


def register_detector(
    name: str,
    factory: Callable[..., Any] | str | None = None,
    *,
    summary: str | None = None,
    origin: str = "",
):
    """Add a detector. With ``factory`` (a callable or ``"module:attribute"``) it is registered now
    and its spec returned; without, this is a decorator for the factory (usually the class):
    ``@register_detector("mine", summary="...")``. ``summary`` defaults to the first line of the
    factory's docstring. A name already registered is an error (unregister it first)."""

    def add(f: Callable[..., Any] | str) -> DetectorSpec:
        text = (
            summary
            if summary is not None
            else _first_line(getattr(f, "__doc__", None) if callable(f) else None)
        )
        spec = DetectorSpec(name, f, text, origin or _module_of(f))
        with _LOCK:
            if name in _SPECS:
                raise ValueError(
                    f"face detector {name!r} is already registered ({_SPECS[name].origin or 'ferapp'}); "
                    "unregister_detector() it first"
                )
            _SPECS[name] = spec
        return spec

    if factory is not None:
        return add(factory)

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        add(f)
        return f

    return deco


def unregister_detector(name: str) -> DetectorSpec | None:
    """Remove a detector (plugins and tests that register one for a while); returns its spec,
    None for an unknown name."""
    with _LOCK:
        _plugin_names.discard(name)
        return _SPECS.pop(name, None)


def detector_specs() -> list[DetectorSpec]:
    """Every registered detector, sorted by name (plugins included)."""
    _load_plugins()
    with _LOCK:
        return [_SPECS[n] for n in sorted(_SPECS)]


def list_detectors() -> list[str]:
    """Names of every registered detector, sorted (no detector is imported)."""
    return [s.name for s in detector_specs()]


def get_detector_spec(name: str) -> DetectorSpec:
    """The spec of ``name``; an unknown name raises ValueError listing the known ones."""
    _load_plugins()
    with _LOCK:
        spec = _SPECS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ValueError(f"Unknown face detector {name!r}; known: {', '.join(sorted(_SPECS))}")
        return spec


def create_detector(name: str | None = None, **kw: Any) -> FaceDetector:
    """Build a registered detector (default: ``settings().detection.detector``): ``factory(**kw)`` (``min_face=``, ``max_pixels=`` and the
    detector's own options). An unknown name is a ValueError listing the known ones; a bad
    option value (ValueError) or a missing model file (OSError) passes through as the factory
    raised it; anything else that goes wrong in a detector's code (an import, its constructor,
    a result lacking a member of the ``FaceDetector`` protocol) is a :class:`DetectorError`."""
    from ferapp.detect.base import missing_members

    if name is None:
        name = settings().detection.detector
    spec = get_detector_spec(name)
    where = spec.origin or spec.factory
    try:
        factory = spec.load_factory()
    except Exception as e:  # a plugin's import can raise anything
        raise DetectorError(
            f"face detector {name!r} cannot be loaded from {spec.factory!r}: {type(e).__name__}: {e}"
        ) from e
    try:
        det = factory(**kw)
    except (ValueError, OSError):
        raise
    except Exception as e:  # a plugin's constructor can raise anything
        raise DetectorError(
            f"face detector {name!r} ({where}) failed to start: {type(e).__name__}: {e}"
        ) from e
    missing = missing_members(det)
    if missing:
        raise DetectorError(
            f"face detector {name!r} ({where}) lacks {', '.join(missing)} of the FaceDetector "
            "protocol (ferapp.detect.base; subclass ScaledDetector to get them)"
        )
    return det


def detector_help(default: str | None = FROM_SETTINGS) -> str:
    """The help of a ``--detector`` option, generated from the registry: ``"face detector: cnn
    (dlib CNN, ...), haar (...), hog (default: dlib HOG, fast)"``; ``%`` doubled for argparse."""
    if default == FROM_SETTINGS:
        default = settings().detection.detector
    parts = []
    for s in detector_specs():
        note = ": ".join(t for t in ("default" if s.name == default else "", s.summary) if t)
        parts.append(f"{s.name} ({note})" if note else s.name)
    return ("face detector: " + ", ".join(parts)).replace("%", "%%")


class DetectorHelp(str):
    """The help of a ``--detector`` option: ``add_argument("--detector", help=DetectorHelp())``.
    argparse expands a help with ``help % params`` when it shows the help; that is when this one
    reads the registry (:func:`detector_help`, ``default`` marked, ``note`` appended), so that
    parsing and usage errors never read the installed distributions' entry points. As a plain
    string (anything but ``%``) it is a short generic text."""

    default: str | None
    note: str

    def __new__(cls, default: str | None = FROM_SETTINGS, note: str = "") -> DetectorHelp:
        self = super().__new__(cls, f"face detector (one of ferapp.detect.list_detectors()) {note}".rstrip())
        self.default, self.note = default, note
        return self

    def __mod__(self, params: Any) -> str:
        return f"{detector_help(self.default)} {self.note}".rstrip() % params


def reload_plugins() -> None:
    """Forget the detectors that came from entry points and read the entry points again (after
    installing a plugin into a running process; tests)."""
    global _plugins_loaded
    with _LOCK:
        for n in _plugin_names:
            _SPECS.pop(n, None)
        _plugin_names.clear()
        _plugins_loaded = False
    _load_plugins()


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _LOCK:
        if _plugins_loaded:
            return
        _plugins_loaded = True  # first: a plugin module that lists detectors does not recurse
        for ep in _entry_points():
            try:
                spec = _spec_of_entry_point(ep)
            except Exception as e:  # a broken plugin must not stop the app
                _warn(f"ignoring face detector plugin {ep.name!r} ({ep.value}): {type(e).__name__}: {e}")
                continue
            known = _SPECS.get(spec.name)
            if known is not None and known.factory is spec.factory:
                continue  # the plugin's module registered itself on import: the same detector
            if known is not None:
                _warn(
                    f"ignoring face detector plugin {ep.name!r} ({ep.value}): the name {spec.name!r} is already "
                    f"registered ({known.origin or 'ferapp'})"
                )
                continue
            _SPECS[spec.name] = spec
            _plugin_names.add(spec.name)


def _entry_points() -> list[Any]:
    from importlib import metadata

    try:
        return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
    except Exception as e:  # unreadable package metadata: run with the built-ins
        _warn(f"could not read the {ENTRY_POINT_GROUP!r} entry points: {type(e).__name__}: {e}")
        return []


def _spec_of_entry_point(ep: Any) -> DetectorSpec:
    obj = ep.load()
    dist = getattr(getattr(ep, "dist", None), "name", None)
    origin = f"entry point {dist or ep.value}"
    if isinstance(obj, DetectorSpec):
        return dataclasses.replace(obj, name=ep.name, origin=origin)
    if not callable(obj):
        raise TypeError(f"{type(obj).__name__} is neither a DetectorSpec nor a detector factory")
    return DetectorSpec(ep.name, obj, _first_line(obj.__doc__), origin)


def _warn(message: str) -> None:
    warnings.warn(message, DetectorPluginWarning, stacklevel=3)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def _module_of(f: Any) -> str:
    return f.partition(":")[0] if isinstance(f, str) else getattr(f, "__module__", "") or ""


# -- the built-ins: declared here, imported (with dlib / OpenCV) only when created -----------------
register_detector("hog", "ferapp.detect.detectors:HogDetector", origin="ferapp", summary="dlib HOG, fast")
register_detector(
    "cnn",
    "ferapp.detect.detectors:CnnDetector",
    origin="ferapp",
    summary="dlib CNN, ~1 s per 640x480 scan, more robust to pose and light",
)
register_detector(
    "haar",
    "ferapp.detect.detectors:HaarDetector",
    origin="ferapp",
    summary="OpenCV Haar cascade, fast, frontal faces only",
)
