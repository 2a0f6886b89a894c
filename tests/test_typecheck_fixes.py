"""Bugs the type checker (mypy, `make lint`) found in the Qt-free core, each reproduced."""

from __future__ import annotations

import pytest

from ferapp.config import settings
from ferapp.inference.analyze import AnalyzeSummary, no_face_hint
from ferapp.record import output
from ferapp.record.output import OutputClaim, OutputIOError


def test_no_face_hint_at_the_smallest_min_face_without_a_frame_size():
    # min_face already at the floor and no frame size known: the hint used to unpack None (TypeError)
    h = no_face_hint(AnalyzeSummary(frames=3, processed=3), settings().detection.min_face_range[0], "hog")
    assert h.startswith("no face found in 3 processed frame(s)")
    assert "--min-face" not in h and "a brighter source" in h


def test_private_path_says_so_when_every_temporary_name_is_taken(tmp_path, monkeypatch):
    # 100 taken names used to end in `None / name` (TypeError) instead of a clear output error
    monkeypatch.setattr(output, "run_tag", lambda: "taken")
    claim = OutputClaim(tmp_path / "clip.mp4", suffix=".mp4")
    try:
        (tmp_path / ".clip.taken.part").mkdir()
        with pytest.raises(OutputIOError, match="no free temporary folder name"):
            claim.private_path()
    finally:
        claim.abort()
