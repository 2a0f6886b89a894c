"""Help > About: the app, the models (trained and architectures) and the papers they implement."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ferapp.gui import models as gui_models


def about_html() -> str:
    import ferapp

    parts = [
        f"<h2>ferapp {html.escape(getattr(ferapp, '__version__', ''))}</h2>",
        "<p>Real-time facial expression recognition: detection (dlib HOG/CNN, OpenCV), "
        "alignment, and five papers' networks.</p>",
    ]
    trained = gui_models.trained_models()
    parts.append("<h3>Trained models</h3>")
    if trained:
        parts.append(
            "<table cellpadding='3'><tr><th align='left'>model</th><th align='left'>architecture</th>"
            "<th align='left'>measured</th></tr>"
        )
        for e in trained:
            parts.append(
                f"<tr><td><b>{html.escape(e.name)}</b>{'' if e.shipped else ' (yours)'}</td>"
                f"<td>{html.escape(str(e.arch))}</td>"
                f"<td>{html.escape(gui_models.accuracy_text(e) or 'no measured accuracy')}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>None installed yet (Tools &gt; Train a model…, or <code>ferapp train</code>).</p>")
    parts.append("<h3>Architectures and papers</h3><ul>")
    for name, cfg in gui_models.architecture_cfgs():
        paper = html.escape(getattr(cfg, "paper", "") or "")
        cite = html.escape(getattr(cfg, "citation", "") or "")
        desc = html.escape(getattr(cfg, "description", "") or "")
        parts.append(
            f"<li><b>{html.escape(name)}</b> {('[' + paper + ']') if paper else ''} {desc}"
            f"{'<br><i>' + cite + '</i>' if cite else ''}</li>"
        )
    parts.append("</ul>")
    return "".join(parts)


QUICK_START = """
<h2>Quick start</h2>
<p><b>Source</b> (toolbar): a camera, the built-in demo, or File &gt; Open video / image / folder.
Press <b>Start</b> (Space). Every face is boxed with its id and its most likely expression.</p>
<p><b>Model</b>: the trained models, grouped by paper, with their measured accuracy (FER2013
PrivateTest) and CPU time per face. <b>Detector</b>: {detectors}. <b>Min face</b>: the smallest
face width (video pixels) that is found; lower it for people far from the camera (it costs CPU). <b>Smoothing</b> steadies the
probabilities over time.</p>
<p><b>Plots</b> (right): the seven probabilities now and over the last 30 s for the largest face,
or for the face you pick in <i>Face</i>.</p>
<p><b>Record</b> (R) writes an expression timeline (CSV + JSON; optionally an annotated MP4:
Capture &gt; Also record annotated video) to the recordings folder (File &gt; Show recordings
folder). <b>File &gt; Open timeline</b> (Ctrl+O) plots a recording, summarises it and exports PNG/CSV.
<b>File &gt; Analyze video or folder</b> processes a whole file or folder of photos into a timeline,
with a progress bar, and opens it.</p>
<p><b>Videos</b> play at their own speed: Pause with P; the position is in the status bar; press
Start to play again after the end. <b>Photos</b> (an image or a folder) are each analysed once
and shown one at a time: Previous / Next in the Photos toolbar, or Left / Right; the plots show
the faces of the photo shown.</p>
<p><b>Driver monitoring</b> (View menu): eye closure, PERCLOS, yawns, head pose and sustained
emotions, with alerts and a sound.</p>
<p><b>Train a model</b> (Tools): pick a dataset on your disk, a paper's architecture and a
protocol; watch the curves; save the result, which then appears in the Model list (the window
asks before switching to it). From a terminal: <code>ferapp train --model ARCH --data PATH --save NAME</code>.</p>
"""

SHORTCUTS = [
    ("Space", "Start / stop capture"),
    ("P", "Pause / resume a video or the demo"),
    ("Left / Right", "Previous / next photo (also Page Up / Page Down; Home, End)"),
    ("R", "Start / stop recording"),
    ("Ctrl+O", "Open a timeline"),
    ("Ctrl+Q", "Quit"),
    ("Esc, Ctrl+W", "Close the timeline viewer"),
    ("F1", "Quick start"),
]


def quick_start_html() -> str:
    """Help > Quick start; the detectors are listed from the registry (plugins included)."""
    from ferapp.config import settings
    from ferapp.detect.registry import detector_specs

    default = settings().detection.detector
    dets = ", ".join(
        html.escape(
            f"{s.name} ({'default: ' if s.name == default else ''}{s.summary})" if s.summary else s.name
        )
        for s in detector_specs()
    )
    return QUICK_START.format(detectors=dets)


def shortcuts_html() -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in SHORTCUTS
    )
    return f"<h2>Keyboard shortcuts</h2><table cellpadding='4'>{rows}</table>"


class HtmlDialog(QDialog):
    """A closable page of help text."""

    def __init__(self, title: str, body: str, parent: QWidget | None = None, size=(640, 520)):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(*size)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About ferapp")
        self.resize(640, 520)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(about_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
