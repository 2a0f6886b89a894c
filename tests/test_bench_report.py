"""`ferapp bench`'s report names the CPU's vector units and shows the float-vs-int8 and pipeline rows
(no timing here: the figures are made up; only the report's shape is checked)."""

from __future__ import annotations

from ferapp.bench import format_report
from ferapp.bench.stages import hardware


def test_machine_line_names_the_vector_units():
    hw = hardware()
    assert "torch kernels" in hw["isa"]
    text = format_report({"hardware": hw, "quick": True})
    first = text.splitlines()[0]
    assert first.startswith("Machine: ") and hw["isa"] in first and "torch " in first


def test_int8_and_pipeline_rows():
    hw = {"cpu": "CPU: X", "isa": "AVX2, FMA; no AVX-512; torch kernels AVX2", "torch": "2", "cuda": None}
    res = {"hardware": hw, "default_model": "m",
           "models": [{"model": "resnet20", "device": "cpu", "b1_median_ms_per_face": 4.0},
                      {"model": "m", "device": "cpu", "precision": "float32", "engine_median_ms_per_face": 9.8},
                      {"model": "m", "device": "cpu", "precision": "int8", "engine_median_ms_per_face": 4.6}],
           "pipeline": [{"mode": "tracked (default)", "input": "book.mkv", "fps": 100.0, "precision": "int8"},
                        {"mode": "tracked, one frame at a time", "input": "book.mkv", "fps": 80.0},
                        {"mode": "baseline (full scan every frame)", "input": "book.mkv", "fps": 20.0}]}
    text = format_report(res)
    assert "float vs int8" in text and "| int8" in text and "9.8" in text and "4.6" in text
    assert "(model m, int8)" in text
    assert "speed-up of the tracked path over the baseline, book.mkv: 5.0x" in text
    assert "tracked, one frame at a time" in text
