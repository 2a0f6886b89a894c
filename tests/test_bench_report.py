"""``ferapp bench``'s text report: a sub-run that produced no statistics prints its error, not
an empty table row."""

from __future__ import annotations

from ferapp.bench.report import format_report

HW = {"cpu": "test CPU", "torch": "2.x", "cuda": None}


def gui_section(text: str) -> list[str]:
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("## Desktop window"))
    out = []
    for ln in lines[i + 1:]:
        if ln.startswith("##") or ln.startswith("peak RSS") or not ln.strip():
            break
        out.append(ln)
    return out


def test_a_failed_window_run_prints_its_error_instead_of_an_empty_row():
    row = {"faces": 1, "exit": 1, "error": "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                           "RuntimeError: could not connect to display\n"}
    lines = gui_section(format_report({"hardware": HW, "gui": [row]}))
    assert lines == ["error: the window's run (ferapp gui --exit-after) gave no statistics (exit 1): "
                     "RuntimeError: could not connect to display"]


def test_a_window_run_with_statistics_is_a_table_row():
    row = {"faces": 1, "seconds": 5.0, "model": "m", "captured": 150, "processed": 149, "processed_share": 0.99,
           "capture_fps": 30.0, "processed_fps": 29.8, "latency_p50_ms": 20.0, "latency_p95_ms": 31.0, "dropped": 1}
    lines = gui_section(format_report({"hardware": HW, "gui": [row]}))
    assert lines[0].startswith("| faces") and lines[2].startswith("| 1 ") and "29.8" in lines[2]
    assert not any(ln.startswith("error") for ln in lines)
