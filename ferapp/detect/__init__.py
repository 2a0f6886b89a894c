"""Face detection, landmarks, alignment, tracking (Qt-free).

    from ferapp.detect import create_detector, FaceFinder, align_face
    finder = FaceFinder()                    # the settings' detector and min face (ferapp.config)
    faces = finder.find(frame.image)         # boxes, 68 landmarks, stable face_id
    crop = align_face(frame.image, faces[0].landmarks)   # 48x48, same channels
"""

from ferapp.detect.align import align_face, alignment_matrix, crop_box, extract_face
from ferapp.detect.base import (
    FaceDetector,
    create_detector,
    dlib_model_path,
    dlib_models_dir,
    list_detectors,
    register_detector,
)
from ferapp.detect.finder import FaceFinder
from ferapp.detect.landmarks import LandmarkPredictor, eye_angle, eye_centres
from ferapp.detect.tracker import FaceTracker, iou

__all__ = [
    "FaceDetector", "create_detector", "dlib_model_path", "dlib_models_dir",
    "list_detectors", "register_detector", "LandmarkPredictor", "eye_angle", "eye_centres",
    "align_face", "alignment_matrix", "crop_box", "extract_face", "FaceTracker", "iou", "FaceFinder",
]
