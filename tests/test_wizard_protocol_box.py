"""The settings page's editable protocol box: checked once typing pauses (debounced), planned
through the page's cached ProtocolPlanner, and a pending edit is applied before Next."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QWizard
from test_wizard import WAIT, make_ck48, new_wizard

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(qtbot, tmp_path):
    wiz = new_wizard(qtbot, make_ck48(tmp_path / "CK+48"))
    wiz.next()
    wiz.next()
    s = wiz.settings_page
    assert wiz.currentPage() is s and s.protocol.currentText() == "p1-jaffe" and s.isComplete()
    yield wiz, s
    wiz.close()


def _type(qtbot, s, text):
    edit = s.protocol.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    assert s.protocol.currentText() == text


def test_typing_builds_folds_once_when_typing_pauses(qtbot, settings):
    wiz, s = settings
    builds = s.planner.builds
    _type(qtbot, s, "kfold-7")
    # no event loop ran while typing: the check waits for its timer, no fold was built per keystroke
    assert s.protocol_check_pending and s.planner.builds == builds
    qtbot.waitUntil(lambda: not s.protocol_check_pending, timeout=WAIT)
    assert s.planner.builds == builds + 1  # only the final text was planned
    assert "7 fold(s)" in s.protocol_info.text() and s.isComplete()
    assert wiz.button(QWizard.WizardButton.NextButton).isEnabled()
    # back to a protocol checked before: served from the cache
    s.protocol.setCurrentText("p1-jaffe")
    assert s.isComplete() and "3 fold(s)" in s.protocol_info.text()
    assert s.planner.builds == builds + 1


def test_an_invalid_edit_disables_next_after_the_pause(qtbot, settings):
    wiz, s = settings
    _type(qtbot, s, "subject-10fold")
    qtbot.waitUntil(lambda: not wiz.button(QWizard.WizardButton.NextButton).isEnabled(), timeout=WAIT)
    assert "needs at least 10 subjects" in s.protocol_info.text() and not s.isComplete()


def test_next_applies_a_pending_edit_first(qtbot, settings):
    wiz, s = settings
    _type(qtbot, s, "nonsense")
    assert s.protocol_check_pending
    assert not s.validatePage()  # Next pressed before the timer fired: refused, and the reason shown
    assert not s.protocol_check_pending and "unknown protocol" in s.protocol_info.text()
    wiz.next()
    assert wiz.currentPage() is s
    _type(qtbot, s, "holdout-25")
    assert s.validatePage() and "fold 1:" in s.protocol_info.text()
