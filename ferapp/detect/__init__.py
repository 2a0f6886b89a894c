"""Face detection, landmarks, alignment, tracking (Qt-free).

    from ferapp.detect import create_detector, FaceFinder, align_face
    finder = FaceFinder()                    # the settings' detector and min face (ferapp.config)
    faces = finder.find(frame.image)         # boxes, 68 landmarks, stable face_id
    crop = align_face(frame.image, faces[0].landmarks)   # 48x48, same channels

Names are imported on first use (PEP 562): ``from ferapp.detect import list_detectors`` reads
the registry without loading dlib or OpenCV, so ``ferapp --help`` and argument checks stay cheap.
A new detector: ``register_detector`` (``ferapp.detect.registry``), a ``ScaledDetector`` subclass
or any ``FaceDetector`` (``ferapp.detect.base``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ferapp.detect.align": ("align_face", "alignment_matrix", "crop_box", "extract_face"),
    "ferapp.detect.base": ("FaceDetector", "ScaledDetector", "dlib_model_path", "dlib_models_dir"),
    "ferapp.detect.registry": (
        "DetectorError",
        "DetectorSpec",
        "create_detector",
        "detector_help",
        "detector_specs",
        "get_detector_spec",
        "list_detectors",
        "register_detector",
        "unregister_detector",
    ),
    "ferapp.detect.finder": ("FaceFinder",),
    "ferapp.detect.landmarks": ("LandmarkPredictor", "eye_angle", "eye_centres"),
    "ferapp.detect.tracker": ("FaceTracker", "iou"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = [
    "DetectorError",
    "DetectorSpec",
    "FaceDetector",
    "FaceFinder",
    "FaceTracker",
    "LandmarkPredictor",
    "ScaledDetector",
    "align_face",
    "alignment_matrix",
    "create_detector",
    "crop_box",
    "detector_help",
    "detector_specs",
    "dlib_model_path",
    "dlib_models_dir",
    "extract_face",
    "eye_angle",
    "eye_centres",
    "get_detector_spec",
    "iou",
    "list_detectors",
    "register_detector",
    "unregister_detector",
]

if TYPE_CHECKING:
    from ferapp.detect.align import align_face, alignment_matrix, crop_box, extract_face
    from ferapp.detect.base import FaceDetector, ScaledDetector, dlib_model_path, dlib_models_dir
    from ferapp.detect.finder import FaceFinder
    from ferapp.detect.landmarks import LandmarkPredictor, eye_angle, eye_centres
    from ferapp.detect.registry import (
        DetectorError,
        DetectorSpec,
        create_detector,
        detector_help,
        detector_specs,
        get_detector_spec,
        list_detectors,
        register_detector,
        unregister_detector,
    )
    from ferapp.detect.tracker import FaceTracker, iou


_SUBMODULES = (
    "align",
    "base",
    "detectors",
    "finder",
    "framing",
    "landmarks",
    "registry",
    "scan_worker",
    "tracker",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # ``ferapp.detect.finder`` after a bare ``import ferapp.detect``
        return importlib.import_module(f"{__name__}.{name}")
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'ferapp.detect' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
