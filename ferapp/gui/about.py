"""Help > About: the app, the models (trained and architectures) and the papers they implement."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ferapp.gui import models as gui_models


def about_html() -> str:
    import ferapp

    parts = [f"<h2>ferapp {html.escape(getattr(ferapp, '__version__', ''))}</h2>",
             "<p>Real-time facial expression recognition: detection (dlib HOG/CNN, OpenCV), "
             "alignment, and five papers' networks.</p>"]
    trained = gui_models.trained_models()
    parts.append("<h3>Trained models</h3>")
    if trained:
        parts.append("<ul>")
        for e in trained:
            parts.append(f"<li><b>{html.escape(e.name)}</b> ({html.escape(str(e.arch))}) — "
                         f"{html.escape(gui_models.accuracy_text(e) or 'no measured accuracy')}</li>")
        parts.append("</ul>")
    else:
        parts.append("<p>None installed yet (Tools &gt; Train a model…, or <code>ferapp train</code>).</p>")
    parts.append("<h3>Architectures and papers</h3><ul>")
    for name, cfg in gui_models.architecture_cfgs():
        paper = html.escape(getattr(cfg, "paper", "") or "")
        cite = html.escape(getattr(cfg, "citation", "") or "")
        desc = html.escape(getattr(cfg, "description", "") or "")
        parts.append(f"<li><b>{html.escape(name)}</b> {('[' + paper + ']') if paper else ''} {desc}"
                     f"{'<br><i>' + cite + '</i>' if cite else ''}</li>")
    parts.append("</ul>")
    return "".join(parts)


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
