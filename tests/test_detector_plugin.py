"""Detectors are a plugin seam: a toy detector declared only in this test module (registered for a
test, removed after it) runs the live pipeline, ``ferapp analyze`` and the window, and is listed
in ``--help`` and the GUI's detector box; an installed distribution adds one through the
``ferapp.detectors`` entry-point group; a broken plugin is a warning, not a crash. No file of
ferapp names these detectors."""

from __future__ import annotations

import json
import sys
import textwrap
from collections import Counter

import cv2
import numpy as np
import pytest

from ferapp.capture import DemoSource
from ferapp.cli import main
from ferapp.detect import (
    FaceDetector,
    ScaledDetector,
    create_detector,
    detector_help,
    detector_specs,
    get_detector_spec,
    list_detectors,
    register_detector,
    unregister_detector,
)
from ferapp.detect import registry as det_registry
from ferapp.detect.registry import ENTRY_POINT_GROUP, DetectorError, DetectorPluginWarning, reload_plugins
from ferapp.inference.analyze import AnalyzeSummary, no_face_hint
from ferapp.inference.pipeline import Pipeline
from ferapp.record.timeline import read_timeline
from ferapp.types import Face, Frame

CALLS: Counter = Counter()  # which detector members the app called


class AltHaar(ScaledDetector):
    """OpenCV's alt2 Haar cascade with 3 neighbours (a toy detector of the plugin test)."""

    name = "toy-haar"
    native_min_face = 24.0

    def __init__(self, min_face: float = 40, max_pixels: int | None = None):
        super().__init__(min_face, max_pixels)
        self._det = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        assert not self._det.empty()

    def detect_raw(self, gray):
        m = int(self.native_min_face)
        rects, n = self._det.detectMultiScale2(gray, scaleFactor=1.1, minNeighbors=3, minSize=(m, m))
        return [
            ((int(x), int(y), int(w), int(h)), float(k))
            for (x, y, w, h), k in zip(rects, np.ravel(n), strict=False)
        ]

    def detect(self, image):
        CALLS["scan"] += 1
        return super().detect(image)

    def detect_region(self, image, box, context=0.5):
        CALLS["region"] += 1
        return super().detect_region(image, box, context)


class FixedBox:
    """Every member of the FaceDetector protocol written out, no base class: one face, always at
    ``box`` (the demo portrait of a still frame)."""

    name = "toy-fixed"
    native_min_face = 30.0
    max_pixels = 1_000_000

    def __init__(self, box=(0, 0, 1, 1), min_face: float = 40):
        self.box, self.min_face = tuple(int(v) for v in box), float(min_face)

    def detect(self, image):
        CALLS["fixed-scan"] += 1
        return [Face(box=self.box, score=1.0)]

    def detect_region(self, image, box, context=0.5):
        CALLS["fixed-region"] += 1
        x, y, w, h = box
        bx, by, bw, bh = self.box
        near = (
            abs(bx + bw / 2 - x - w / 2) < (0.5 + context) * w
            and abs(by + bh / 2 - y - h / 2) < (0.5 + context) * h
        )
        return [Face(box=self.box, score=1.0)] if near else []

    def scale_for(self, width, height, min_face=None):
        return min(
            self.native_min_face / float(min_face or self.min_face),
            (self.max_pixels / (width * height)) ** 0.5,
        )

    def effective_min_face(self, width, height, min_face=None):
        return self.native_min_face / self.scale_for(width, height, min_face)


@pytest.fixture
def toy_haar():
    CALLS.clear()
    register_detector("toy-haar")(AltHaar)  # the decorator form; summary = the docstring's first line
    yield "toy-haar"
    unregister_detector("toy-haar")


@pytest.fixture(scope="module")
def demo_face():
    src = DemoSource(1, realtime=False).open()
    image = src.render(0)
    cx, cy, size, _ = src.truth(0)[0]
    return image, (int(cx - size / 2), int(cy - size / 2), int(size), int(size))


def _near(box, truth, tol=0.3):
    (x, y, w, h), (tx, ty, tw, th) = box, truth
    return abs(x + w / 2 - tx - tw / 2) < tol * tw and abs(y + h / 2 - ty - th / 2) < tol * th


def test_a_registered_detector_runs_the_live_pipeline_and_analyze(toy_haar, tmp_path, capsys):
    spec = get_detector_spec("toy-haar")
    assert spec.summary == "OpenCV's alt2 Haar cascade with 3 neighbours (a toy detector of the plugin test)."
    assert "toy-haar" in list_detectors() and "toy-haar (OpenCV's alt2 Haar" in detector_help()

    # the live pipeline (batch timing: the background scan merges at a fixed delay)
    src = DemoSource(1, realtime=False, max_frames=12).open()
    pipe = Pipeline(detector="toy-haar", classify=False)
    try:
        assert isinstance(pipe.finder.detector, AltHaar) and isinstance(pipe.finder.detector, FaceDetector)
        found = []
        for i, frame in enumerate(iter(src.read, None)):
            res = pipe.process(frame)
            found.append(len(res.faces) == 1 and _near(res.faces[0].face.box, _truth_box(src, i)))
            assert res.detector == "toy-haar"
    finally:
        pipe.close()
    assert sum(found) >= 10, found
    assert CALLS["scan"] >= 1 and CALLS["region"] >= 1  # the full scan and the check at the face's scale

    # `ferapp analyze` (in-process) with it
    out = tmp_path / "toy.csv"
    rc = main(
        [
            "analyze",
            "demo",
            "--detector",
            "toy-haar",
            "--max-frames",
            "20",
            "--out",
            str(out),
            "--model",
            "cc_lenet5",
            "--quiet",
        ]
    )
    assert rc == 0
    tl = read_timeline(out)
    assert tl.meta["detector"] == "toy-haar" and len(set(tl.columns["frame"].tolist())) >= 18
    capsys.readouterr()

    # listed in both commands' --help (generated from the registry)
    for argv in (["analyze", "--help"], ["gui", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "toy-haar (OpenCV's alt2" in " ".join(capsys.readouterr().out.split()), argv


def _truth_box(src: DemoSource, i: int):
    cx, cy, size, _ = src.truth(i)[0]
    return (cx - size / 2, cy - size / 2, size, size)


def test_an_unregistered_detector_is_gone_and_unknown_names_fail_with_the_known_ones(capsys):
    register_detector("toy-gone", AltHaar, summary="gone soon")
    assert "toy-gone" in list_detectors()
    assert unregister_detector("toy-gone").summary == "gone soon"
    assert unregister_detector("toy-gone") is None
    assert "toy-gone" not in list_detectors() and "toy-gone" not in detector_help()
    with pytest.raises(ValueError, match=r"Unknown face detector 'toy-gone'; known: .*haar, hog"):
        create_detector("toy-gone")
    assert main(["gui", "--detector", "toy-gone"]) == 2
    assert "unknown detector 'toy-gone'; known: cnn, haar, hog" in capsys.readouterr().err


def test_the_protocol_alone_is_enough(demo_face):
    """A detector that implements the protocol's members itself (no ScaledDetector) is found by
    the live pipeline on a generated frame, re-confirmed at its box, and drives the no-face hint."""
    image, box = demo_face
    CALLS.clear()
    register_detector("toy-fixed", lambda min_face=40, **kw: FixedBox(box, min_face), summary="a fixed box")
    try:
        det = create_detector("toy-fixed", min_face=30)
        assert isinstance(det, FaceDetector) and det.min_face == 30
        pipe = Pipeline(detector="toy-fixed", classify=False, scan_every=5)
        try:
            boxes = [
                [
                    r.face.box
                    for r in pipe.process(Frame(image=image, index=i, timestamp=i / 30, wall_time=0.0)).faces
                ]
                for i in range(12)
            ]
        finally:
            pipe.close()
        assert all(len(b) == 1 and _near(b[0], box, 0.15) for b in boxes), boxes
        assert CALLS["fixed-scan"] >= 1 and CALLS["fixed-region"] >= 2
        hint = no_face_hint(AnalyzeSummary(processed=5, frame_size=(4000, 3000)), 40, det)
        # the 1 MP cap: on 4000x3000 frames the smallest face found is 30 / sqrt(1/12) = 104 px
        assert "104 px is the smallest face" in hint and "capped at 1 MP" in hint
    finally:
        unregister_detector("toy-fixed")


def test_registration_is_checked():
    with pytest.raises(ValueError, match="already registered"):
        register_detector("hog", AltHaar)
    assert get_detector_spec("hog").origin == "ferapp"
    with pytest.raises(ValueError, match="detector name"):
        register_detector("no spaces", AltHaar)
    with pytest.raises(ValueError, match="module:attribute"):
        register_detector("toy-path", "no_colon_here")
    register_detector(
        "toy-incomplete", lambda **kw: type("Half", (), {"name": "half", "detect": lambda s, i: []})()
    )
    try:
        with pytest.raises(
            DetectorError,
            match="lacks min_face, native_min_face, max_pixels, detect_region, scale_for, "
            "effective_min_face of the FaceDetector protocol",
        ):
            create_detector("toy-incomplete")
    finally:
        unregister_detector("toy-incomplete")


def _broken_constructor(min_face=40, **kw):
    raise ZeroDivisionError("the plugin's own bug")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            _broken_constructor,
            f"face detector 'toy-broken' ({__name__}) failed to start: "
            "ZeroDivisionError: the plugin's own bug",
        ),
        (
            "ferapp_toy_no_such_module:Detector",
            "face detector 'toy-broken' cannot be loaded from "
            "'ferapp_toy_no_such_module:Detector': ModuleNotFoundError",
        ),
        (lambda **kw: object(), f"face detector 'toy-broken' ({__name__}) lacks name, min_face"),
    ],
)
def test_a_detector_that_fails_to_start_is_a_one_line_error(factory, message, tmp_path, capsys):
    """`ferapp analyze` with a registered detector whose import or constructor fails, or whose
    result is no FaceDetector: exit code 2 and one line, no traceback."""
    register_detector("toy-broken", factory, summary="broken")
    try:
        with pytest.raises(DetectorError, match="toy-broken"):
            create_detector("toy-broken")
        rc = main(
            [
                "analyze",
                "demo",
                "--detector",
                "toy-broken",
                "--max-frames",
                "2",
                "--quiet",
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
    finally:
        unregister_detector("toy-broken")
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {message}") and "Traceback" not in err, err


def test_listing_detectors_imports_no_detector_dlib_or_torch():
    """The CLI's help and argument checks list detectors: that must not load dlib, OpenCV or torch
    (nor the detectors' module), in a fresh interpreter."""
    import subprocess

    code = (
        "import sys; from ferapp.detect import list_detectors, detector_help; names = list_detectors(); "
        "detector_help(); import json; print(json.dumps([names, sorted(m for m in ('dlib', 'cv2', 'torch', "
        "'ferapp.detect.detectors', 'ferapp.detect.finder') if m in sys.modules)]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"hog", "cnn", "haar"} <= set(names) and loaded == []


# -- entry points ----------------------------------------------------------------------------------
_PLUGIN = '''
"""A detector distribution: one detector class, one light declaration."""
from ferapp.detect import DetectorSpec, ScaledDetector

class FixedDetector(ScaledDetector):
    """Always one face in the middle (the toy plugin)."""
    name = "toy-ep"
    native_min_face = 40.0

    def detect_raw(self, gray):
        h, w = gray.shape[:2]
        return [((w // 4, h // 4, w // 2, h // 2), 1.0)]

SPEC = DetectorSpec("ignored", "ferapp_toy_heavy:HeavyDetector", "declared light, imported on create")
NOT_A_FACTORY = 42
'''
_HEAVY = """
from ferapp_toy_plugin import FixedDetector

class HeavyDetector(FixedDetector):
    name = "toy-spec"
"""
_ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
toy-ep = ferapp_toy_plugin:FixedDetector
toy-spec = ferapp_toy_plugin:SPEC
toy-missing = ferapp_toy_no_such_module:Detector
toy-number = ferapp_toy_plugin:NOT_A_FACTORY
hog = ferapp_toy_plugin:FixedDetector
"""


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """An installed distribution ``ferapp-toy-plugin`` (a dist-info folder with entry_points.txt on
    sys.path: what pip leaves behind), found by the real importlib.metadata."""
    site = tmp_path / "site"
    dist = site / "ferapp_toy_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ferapp-toy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(_ENTRY_POINTS))
    (site / "ferapp_toy_plugin.py").write_text(textwrap.dedent(_PLUGIN))
    (site / "ferapp_toy_heavy.py").write_text(textwrap.dedent(_HEAVY))
    monkeypatch.syspath_prepend(str(site))
    yield site
    monkeypatch.undo()
    for mod in ("ferapp_toy_plugin", "ferapp_toy_heavy"):
        sys.modules.pop(mod, None)
    reload_plugins()  # back to the built-ins
    assert not {"toy-ep", "toy-spec"} & set(list_detectors())


def test_an_installed_distribution_adds_detectors_through_entry_points(plugin_site):
    with pytest.warns(DetectorPluginWarning) as caught:
        reload_plugins()
    warned = " | ".join(str(w.message) for w in caught)
    assert "'toy-missing'" in warned and "ModuleNotFoundError" in warned
    assert "'toy-number'" in warned and "neither a DetectorSpec nor a detector factory" in warned
    assert "'hog'" in warned and "already registered" in warned
    names = list_detectors()
    assert {"toy-ep", "toy-spec", "hog", "cnn", "haar"} <= set(names)
    assert "toy-missing" not in names and "toy-number" not in names
    assert get_detector_spec("hog").origin == "ferapp"  # a plugin does not replace a built-in
    specs = {s.name: s for s in detector_specs()}
    assert specs["toy-ep"].summary == "Always one face in the middle (the toy plugin)."
    assert specs["toy-ep"].origin == "entry point ferapp-toy-plugin"
    assert specs["toy-spec"].summary == "declared light, imported on create"
    assert "ferapp_toy_heavy" not in sys.modules  # a DetectorSpec's factory is imported on create only

    det = create_detector("toy-spec", min_face=40)
    assert type(det).__name__ == "HeavyDetector" and "ferapp_toy_heavy" in sys.modules
    [face] = det.detect(np.zeros((480, 640, 3), np.uint8))
    assert face.box == (160, 120, 320, 240)
    assert (
        main(["gui", "--detector", "toy-ep", "--min-face", "0"]) == 2
    )  # the detector passed, min-face did not


def test_unreadable_entry_points_leave_the_built_ins(monkeypatch):
    """``importlib.metadata.entry_points`` failing (broken package metadata) is a warning."""
    from importlib import metadata

    def broken(**kw):
        raise OSError("metadata unreadable")

    monkeypatch.setattr(metadata, "entry_points", broken)
    try:
        with pytest.warns(DetectorPluginWarning, match="metadata unreadable"):
            reload_plugins()
        assert {"hog", "cnn", "haar"} <= set(list_detectors())
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_entry_point_objects_from_a_fake_distribution(monkeypatch):
    """The same through a monkeypatched ``entry_points`` (a distribution that exists only here):
    an entry point naming a factory in this test module."""
    from importlib import metadata

    ep = metadata.EntryPoint(name="toy-mp", value=f"{__name__}:AltHaar", group=ENTRY_POINT_GROUP)
    real = metadata.entry_points
    monkeypatch.setattr(
        metadata,
        "entry_points",
        lambda **kw: metadata.EntryPoints([ep]) if kw.get("group") == ENTRY_POINT_GROUP else real(**kw),
    )
    try:
        reload_plugins()
        assert "toy-mp" in list_detectors() and isinstance(create_detector("toy-mp"), AltHaar)
        assert get_detector_spec("toy-mp").origin == f"entry point {__name__}:AltHaar"
    finally:
        monkeypatch.undo()
        reload_plugins()
    assert "toy-mp" not in list_detectors()
    assert det_registry._plugin_names == set()


def test_parsing_reads_no_entry_points_until_help_is_shown(monkeypatch, capsys):
    """The --detector help is generated when shown: parsing and a usage error read no entry
    points (importlib.metadata costs tens of ms on every `ferapp` run), --help does and lists
    the plugins."""
    from importlib import metadata

    from ferapp.cli import build_parser

    reads = []
    ep = metadata.EntryPoint(name="toy-lazy", value=f"{__name__}:AltHaar", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(det_registry, "_entry_points", lambda: reads.append(1) or [ep])
    monkeypatch.setattr(det_registry, "_plugins_loaded", False)
    try:
        args = build_parser("analyze").parse_args(["analyze", "demo", "--detector", "toy-lazy"])
        assert args.detector == "toy-lazy"
        with pytest.raises(SystemExit) as e:
            main(["analyze", "demo", "--min-face", "-3"])
        assert e.value.code == 2 and "--min-face must be in" in capsys.readouterr().err
        assert reads == []
        for argv in (["analyze", "--help"], ["gui", "--help"]):
            with pytest.raises(SystemExit) as e:
                main(argv)
            help_text = " ".join(capsys.readouterr().out.split())
            assert e.value.code == 0 and "toy-lazy (OpenCV's alt2 Haar" in help_text, argv
        assert (
            "hog (dlib HOG, fast), toy-lazy (" in help_text
            and "test).) (default: the saved setting, else hog)" in help_text
        )
        assert reads == [1]
    finally:
        monkeypatch.undo()
        reload_plugins()
    assert "toy-lazy" not in list_detectors()


# -- the window ---------------------------------------------------------------------------------------
@pytest.mark.gui
def test_the_window_lists_and_runs_a_registered_detector(toy_haar, qtbot, tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, Qt

    from ferapp.gui.main_window import MainWindow

    monkeypatch.setenv("FERAPP_RECORDINGS_DIR", str(tmp_path / "recordings"))
    monkeypatch.setenv("FERAPP_USER_MODELS_DIR", str(tmp_path / "user_models"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    win = MainWindow(source="demo", model="cc_lenet5", detector="toy-haar", cameras=[])
    qtbot.addWidget(win)
    combo = win.detector_combo
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == list_detectors() and combo.currentText() == "toy-haar"
    tip = combo.itemData(items.index("toy-haar"), Qt.ItemDataRole.ToolTipRole)
    assert tip == get_detector_spec("toy-haar").summary
    quick = " ".join(win.show_help("quick").browser.toPlainText().split())  # Help > Quick start
    assert "Detector: cnn (dlib CNN" in quick and "toy-haar (OpenCV's alt2 Haar cascade" in quick
    win.show()
    win.start()
    try:
        qtbot.waitUntil(lambda: win.pipeline is not None and win.bridge.results >= 5, timeout=90_000)
        assert win.pipeline.detector_name == "toy-haar" and isinstance(win.pipeline.finder.detector, AltHaar)
        assert CALLS["scan"] >= 1
    finally:
        win.close()
