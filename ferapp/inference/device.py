"""Device and thread policy shared by inference, training and the GUI's device indicator."""

from __future__ import annotations

import os


def configure_threads(threads: int | None = None) -> int:
    """Cap torch's intra-op threads so the UI keeps a core. Returns the count in effect.

    Default: ``settings().inference.torch_threads()`` (FERAPP_TORCH_THREADS, else cores - 1).
    """
    import torch

    from ferapp.config import settings

    if threads is None:
        threads = settings().inference.torch_threads()
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def resolve_device(device: str = "auto") -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA device is available (use --device cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return device


def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matmul/conv support (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def cpu_name() -> str:
    """The CPU model ("model name" of /proc/cpuinfo on Linux; platform's guess elsewhere): the
    one place that reads it (status bar, model cards, run reports, bench, model table)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str) -> str:
    """Human-readable name for the status bar / cards: CUDA GPU name or CPU model."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
