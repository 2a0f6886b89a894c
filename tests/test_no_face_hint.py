"""The no-face hint: one function, CLI flags or the window's toolbar names, never the detector
or face size already in use."""

from __future__ import annotations

import pytest

from ferapp.inference.analyze import AnalyzeSummary, no_face_hint


def faceless(processed: int = 30) -> AnalyzeSummary:
    return AnalyzeSummary(frames=processed, processed=processed)


def test_cli_wording_names_the_flags():
    h = no_face_hint(faceless(), 40, "hog")
    assert h.startswith("no face found in 30 processed frame(s)")
    assert "--min-face 20" in h and "--detector cnn" in h
    assert "toolbar" not in h


def test_gui_wording_names_the_toolbar_not_flags():
    h = no_face_hint(faceless(), 40, "hog", wording="gui")
    assert h.startswith("No face found in 30 processed frame(s)")
    assert "Min face in the toolbar (e.g. 20 px" in h and "Detector cnn in the toolbar" in h
    assert "--" not in h


@pytest.mark.parametrize("wording", ["cli", "gui"])
def test_the_detector_in_use_is_never_suggested(wording):
    h = no_face_hint(faceless(), 40, "cnn", wording=wording)
    assert "cnn" not in h and "brighter" in h
    assert "cnn" in no_face_hint(faceless(), 40, "haar", wording=wording)


def test_no_smaller_face_size_below_the_smallest():
    h = no_face_hint(faceless(), 12, "cnn")
    assert "--min-face" not in h and h.endswith("try a brighter source")


def test_no_hint_when_a_face_was_found_or_nothing_was_processed():
    s = faceless()
    s.frames_with_face = 1
    assert no_face_hint(s, 40) is None
    assert no_face_hint(faceless(0), 40) is None
    with pytest.raises(ValueError):
        no_face_hint(faceless(), 40, wording="html")


def blank_video(path, n: int = 3, size=(160, 120)):
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for _ in range(n):
        w.write(np.full((size[1], size[0], 3), 128, np.uint8))
    w.release()
    return path


@pytest.mark.slow  # builds a pipeline with the CNN detector (~30 s on 2 busy cores)
def test_analyze_with_the_cnn_detector_does_not_suggest_it(tmp_path, capsys):
    from ferapp.cli import main

    video = blank_video(tmp_path / "wall.avi")
    assert (
        main(
            [
                "analyze",
                str(video),
                "--detector",
                "cnn",
                "--model",
                "cc_lenet5",
                "--quiet",
                "--out",
                str(tmp_path / "t.csv"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: no face found in 3 processed frame(s)" in err
    assert "--min-face 20" in err and "cnn" not in err
