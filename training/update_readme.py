"""Regenerate the README's generated sections (models table, performance) from measured data.

.venv/bin/ferapp bench --json training/reports/bench.json
python training/update_readme.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def models_section() -> str:
    from ferapp.zoo.store import default_model_name, list_trained_models

    default = default_model_name()

    def pct(v):
        return "—" if v is None else f"{100 * v:.2f}%"

    rows = [
        "| model | architecture (paper) | FER2013 PrivateTest | macro F1 | FER+ majority, PrivateTest | "
        "ECE (PrivateTest) | CPU ms / face | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in list_trained_models():
        if not e.shipped:
            continue
        m = e.meta
        ece = m.get("privatetest_ece")
        cal = m.get("calibration") or {}
        if cal.get("shipped"):
            ece_s = f"{pct(cal.get('privatetest_ece_before'))} → {pct(cal.get('privatetest_ece_after'))} (T {cal['temperature_fitted']:.2f})"
        else:
            ece_s = pct(ece)
        rows.append(
            f"| `{e.name}` | {e.arch} {('(' + e.cfg.paper + ')') if e.cfg.paper else ''} | "
            f"{pct(m.get('privatetest_acc'))} | {pct(m.get('privatetest_macro_f1'))} | "
            f"{pct(m.get('ferplus_privatetest_acc'))} | {ece_s} | {m.get('latency_ms', '—')} | "
            f"{'**default**' if e.name == default else ''} |"
        )
    return (
        "Shipped, trained on FER2013 Training, selected on PublicTest, reported on PrivateTest "
        "(`ferapp eval models/<name> --data $DATA/fer2013/fer2013.csv.gz --split PrivateTest` "
        "reproduces each figure; add `--labels ferplus` for the FER+ column: PrivateTest images whose 10 FER+ votes "
        "have a majority among our seven classes, contempt/unknown/not-a-face/no-majority images left out; "
        "ECE: expected calibration error, 15 bins, before → after the softmax temperature T fitted on PublicTest "
        "and shipped in the model's config.json when it lowered the PublicTest ECE by at least half a point; "
        "latency: engine per face, 1 thread, batch 1, this project's 2-core CPU):\n\n" + "\n".join(rows)
    )


def perf_section() -> str:
    from ferapp.bench import format_report

    p = REPO / "training" / "reports" / "bench.json"
    if not p.exists():
        return "(run `ferapp bench --json training/reports/bench.json`, then this script)"
    res = json.loads(p.read_text())
    return (
        "Measured by `ferapp bench` (full run) on the development machine; numbers are as measured, "
        "not asserted anywhere. The Machine line names the CPU's vector units and torch's kernel level: "
        "every figure below was measured with them. On a CPU with AVX-512, `ONEDNN_MAX_CPU_ISA=AVX2` "
        "(oneDNN's float convolutions) and `ATEN_CPU_CAPABILITY=avx2` (torch's own kernels) give an "
        "AVX2-only machine's float figures; the int8 kernels (fbgemm) have no such cap and use "
        "AVX-512 / VNNI where the CPU has them.\n\n```\n" + format_report(res) + "\n```"
    )


def replace(text: str, key: str, body: str) -> str:
    pat = re.compile(rf"(<!-- BEGIN:{key} -->\n).*?(<!-- END:{key} -->)", re.S)
    return pat.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def main() -> int:
    readme = REPO / "README.md"
    text = readme.read_text()
    text = replace(text, "models", models_section())
    text = replace(text, "perf", perf_section())
    readme.write_text(text)
    print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
