"""``ferapp bench``'s text report: a sub-run that produced no statistics prints its error, not
an empty table row; the Machine line names the CPU's vector units; the float-vs-int8 and pipeline
rows (no timing here: the figures are made up; only the report's shape is checked)."""

from __future__ import annotations

from ferapp.bench.report import format_report
from ferapp.bench.stages import hardware

HW = {"cpu": "test CPU", "torch": "2.x", "cuda": None}


def gui_section(text: str) -> list[str]:
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("## Desktop window"))
    out = []
    for ln in lines[i + 1 :]:
        if ln.startswith("##") or ln.startswith("peak RSS") or not ln.strip():
            break
        out.append(ln)
    return out


def test_a_failed_window_run_prints_its_error_instead_of_an_empty_row():
    row = {
        "faces": 1,
        "exit": 1,
        "error": 'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "RuntimeError: could not connect to display\n",
    }
    lines = gui_section(format_report({"hardware": HW, "gui": [row]}))
    assert lines == [
        "error: the window's run (ferapp gui --exit-after) gave no statistics (exit 1): "
        "RuntimeError: could not connect to display"
    ]


def test_a_window_run_with_statistics_is_a_table_row():
    row = {
        "faces": 1,
        "seconds": 5.0,
        "model": "m",
        "captured": 150,
        "processed": 149,
        "processed_share": 0.99,
        "capture_fps": 30.0,
        "processed_fps": 29.8,
        "latency_p50_ms": 20.0,
        "latency_p95_ms": 31.0,
        "dropped": 1,
    }
    lines = gui_section(format_report({"hardware": HW, "gui": [row]}))
    assert lines[0].startswith("| faces") and lines[2].startswith("| 1 ") and "29.8" in lines[2]
    assert not any(ln.startswith("error") for ln in lines)


def test_machine_line_names_the_vector_units():
    hw = hardware()
    assert "torch kernels" in hw["isa"]
    text = format_report({"hardware": hw, "quick": True})
    first = text.splitlines()[0]
    assert first.startswith("Machine: ") and hw["isa"] in first and "torch " in first
    assert f"onnxruntime {hw['onnxruntime']} (MLAS" in first  # the live CPU path's runtime


def test_int8_and_pipeline_rows():
    hw = {"cpu": "CPU: X", "isa": "AVX2, FMA; no AVX-512; torch kernels AVX2", "torch": "2", "cuda": None}
    res = {
        "hardware": hw,
        "default_model": "m",
        "models": [
            {"model": "resnet20", "device": "cpu", "b1_median_ms_per_face": 4.0},
            {"model": "m", "device": "cpu", "precision": "float32", "engine_median_ms_per_face": 9.8},
            {"model": "m", "device": "cpu", "precision": "int8", "engine_median_ms_per_face": 4.6},
            {
                "model": "m",
                "device": "cpu",
                "precision": "int8",
                "runtime": "onnxruntime",
                "engine_median_ms_per_face": 2.9,
            },
        ],
        "pipeline": [
            {
                "mode": "tracked (default)",
                "input": "book.mkv",
                "fps": 100.0,
                "precision": "int8",
                "runtime": "onnxruntime",
            },
            {
                "mode": "tracked, frame after frame (stream overlap=False)",
                "input": "book.mkv",
                "fps": 80.0,
            },
            {"mode": "baseline (full scan every frame)", "input": "book.mkv", "fps": 20.0},
        ],
    }
    text = format_report(res)
    assert "float vs int8" in text and "| int8" in text and "9.8" in text and "4.6" in text
    assert "| onnxruntime |" in text and "2.9" in text
    assert "(model m, int8 through onnxruntime)" in text
    assert "speed-up of the tracked path over the baseline, book.mkv: 5.0x" in text
    assert "tracked, frame after frame" in text


def test_int8_table_compares_against_the_traced_float_network():
    """The float row is the network the live path settles on (traced + frozen), not the eager
    model an engine runs for its first faces (the start-up rule traces it later)."""
    from ferapp.bench.stages import bench_int8

    rows = bench_int8(quick=True)
    assert rows, "no shipped model with an int8 network"
    assert {r["precision"] for r in rows} == {"float32", "int8"}
    assert {(r["precision"], r["runtime"]) for r in rows if r["model"] == "resnet20_kd_fer2013"} == {
        ("float32", "torch"),
        ("int8", "torch"),
        ("int8", "onnxruntime"),
    }
    assert all(r["engine_median_ms_per_face"] > 0 for r in rows)
