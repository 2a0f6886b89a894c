"""One settings object (``ferapp.config``): every default comes from it, and changing one there
changes it in the CLI's parsers and help, the window's remembered settings, the pipeline, the
face finder and batch analysis."""

from __future__ import annotations

import logging

import pytest

from ferapp.config import Settings, overridden, settings

CHANGED = {
    "detection": {"detector": "haar", "min_face": 33.0, "max_pixels": 1_000_000},
    "tracking": {"scan_every": 7, "verify_every": 4, "max_missed": 9},
    "inference": {"device": "cpu", "live_smoothing": 0.3, "analysis_smoothing": 0.1},
    "recording": {"video": True},
    "display": {"landmarks": False},
}


@pytest.fixture
def no_landmark_model(monkeypatch):
    """Pipelines built here never see a face: skip loading dlib's 100 MB landmark model (~5 s)."""
    monkeypatch.setattr("ferapp.detect.finder.LandmarkPredictor", lambda: None)


def _analyze_parser():
    from ferapp.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    return parser, sub["analyze"], sub["gui"]


def test_a_changed_default_reaches_the_cli_its_help_and_batch_analysis():
    with overridden(**CHANGED):
        parser, analyze, gui = _analyze_parser()
        args = parser.parse_args(["analyze", "clip.mp4"])
        assert (args.detector, args.min_face, args.smoothing, args.device) == ("haar", 33.0, 0.1, "cpu")
        text = " ".join(analyze.format_help().split())
        assert "haar (default: " in text and "(default 33;" in text and "(default 0.1;" in text
        assert "live view uses 0.3" in text and "(default cpu)" in text
        gui_help = " ".join(gui.format_help().split())
        assert "else haar)" in gui_help and "else 33)" in gui_help

        from ferapp.inference.batch import AnalysisRequest

        req = AnalysisRequest(source="clip.mp4")
        assert (req.detector, req.min_face, req.smoothing, req.device) == ("haar", 33.0, 0.1, "cpu")
    args = parser.parse_args(["analyze", "clip.mp4"])  # the parser built inside keeps what it read
    assert args.detector == "haar"
    fresh = _analyze_parser()[0].parse_args(
        ["analyze", "clip.mp4"]
    )  # and a new one reads the restored defaults
    assert (fresh.detector, fresh.min_face, fresh.smoothing) == (
        settings().detection.detector,
        settings().detection.min_face,
        settings().inference.smoothing(live=False),
    )


def test_a_changed_default_reaches_the_windows_remembered_settings(tmp_path):
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings

    from ferapp.gui import settings as gui_settings

    empty = QSettings(str(tmp_path / "never_written.ini"), QSettings.Format.IniFormat)
    with overridden(**CHANGED):
        got = {
            k: gui_settings.read(k, empty)
            for k in ("detector", "min_face", "smoothing", "record_video", "landmarks")
        }
        assert got == {
            "detector": "haar",
            "min_face": 33.0,
            "smoothing": 0.3,
            "record_video": True,
            "landmarks": False,
        }
        gui_settings.write("smoothing", 0.5, empty)  # what the user chose wins over the default
        assert gui_settings.read("smoothing", empty) == 0.5
    assert gui_settings.read("detector", empty) == settings().detection.detector


def test_a_changed_default_reaches_the_pipeline_finder_detector_and_tracker(no_landmark_model):
    from ferapp.detect import FaceFinder, create_detector
    from ferapp.inference.pipeline import Pipeline

    with overridden(**CHANGED):
        batch = Pipeline(classify=False)
        live = Pipeline(classify=False, realtime=True)
        finder = FaceFinder(background=False)
        assert (finder.name, finder.min_face, finder.scan_every, finder.verify_every) == ("haar", 33.0, 7, 4)
        assert create_detector().name == "haar"
    try:
        for pipe in (batch, live):
            assert (pipe.detector_name, pipe.min_face, pipe.device) == ("haar", 33.0, "cpu")
            f = pipe.finder
            assert (f.name, f.min_face, f.detector.max_pixels) == ("haar", 33.0, 1_000_000)
            assert (f.scan_every, f.verify_every, f.tracker.max_missed) == (7, 4, 9)
        assert batch.smoother.alpha == 0.1 and live.smoother.alpha == 0.3  # one default per use
    finally:
        batch.close()
        live.close()


def test_smoothing_has_one_default_per_use(no_landmark_model):
    """Live views smooth (a steadier display); an analysis of a file writes the raw numbers."""
    from ferapp.inference.batch import AnalysisRequest
    from ferapp.inference.pipeline import Pipeline

    inf = settings().inference
    assert inf.smoothing(live=True) > 0.0 and inf.smoothing(live=False) == 0.0
    parser = _analyze_parser()[0]
    assert parser.parse_args(["analyze", "x"]).smoothing == inf.smoothing(live=False)
    assert AnalysisRequest(source="x").smoothing == inf.smoothing(live=False)
    pipes = [
        Pipeline("haar", classify=False),
        Pipeline("haar", classify=False, realtime=True),
    ]  # haar: quick to build
    try:
        assert [p.smoother.alpha for p in pipes] == [inf.smoothing(live=False), inf.smoothing(live=True)]
    finally:
        for p in pipes:
            p.close()


def test_bad_settings_fail_loudly_and_overrides_are_undone():
    with pytest.raises(ValueError, match="detection.min_face"):
        Settings().replace(detection={"min_face": 2.0})
    with pytest.raises(ValueError, match="inference.live_smoothing"):
        Settings().replace(inference={"live_smoothing": 1.0})
    with pytest.raises(ValueError, match="unknown settings section 'detect'"):
        Settings().replace(detect={"detector": "cnn"})
    with pytest.raises(TypeError):
        Settings().replace(detection={"detektor": "cnn"})
    before = settings()
    with pytest.raises(RuntimeError), overridden(detection={"detector": "cnn"}):
        assert settings().detection.detector == "cnn"
        raise RuntimeError
    assert settings() is before
    with pytest.raises(AttributeError):  # frozen: nobody changes a default behind the others' backs
        settings().detection.detector = "cnn"


def test_torch_threads_setting_then_environment_then_cores(monkeypatch, caplog):
    import os

    cores_less_one = max(1, (os.cpu_count() or 2) - 1)
    monkeypatch.setenv("FERAPP_TORCH_THREADS", "3")
    assert settings().inference.torch_threads() == 3
    with overridden(inference={"threads": 2}):
        assert settings().inference.torch_threads() == 2
    monkeypatch.setenv("FERAPP_TORCH_THREADS", "lots")
    with caplog.at_level(logging.WARNING, logger="ferapp.config"):
        assert settings().inference.torch_threads() == cores_less_one
    assert "FERAPP_TORCH_THREADS='lots'" in caplog.text
    monkeypatch.delenv("FERAPP_TORCH_THREADS")
    assert settings().inference.torch_threads() == cores_less_one
