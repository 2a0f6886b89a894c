"""Defaults shared by the CLI, the GUI settings and the core (no heavy imports: the CLI reads
these before it loads dlib, OpenCV or torch)."""

from __future__ import annotations

DEFAULT_DETECTOR = "hog"
# Smallest face width found, in frame pixels: a person ~2 m from a 640x480 webcam, or 2-4
# people at one camera. HOG then scans 640x480 frames at 1.5x (see ferapp/detect/detectors.py).
DEFAULT_MIN_FACE = 40
MIN_FACE_RANGE = (8, 4096)
