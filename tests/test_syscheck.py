"""`make run`'s system check: every missing xcb library found at once, mapped to its package."""

from __future__ import annotations

import subprocess

from ferapp import syscheck


def test_package_names():
    assert syscheck.package_for("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert syscheck.package_for("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert syscheck.package_for("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert syscheck.package_for("libxcb-render-util.so.0") == "libxcb-render-util0"
    assert syscheck.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert syscheck.package_for("libEGL.so.1") == "libegl1"


def test_the_plugin_is_found_in_the_installed_pyside6():
    files = syscheck.qt_plugin_files()
    assert files and files[0].name == "libqxcb.so"


def test_missing_libraries_come_from_ldd_and_runtime_loads(monkeypatch):
    ldd = (
        "\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
    )
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, ldd, ""))
    monkeypatch.setattr(syscheck, "_loadable", lambda so: so != "libxcb-cursor.so.0")
    assert syscheck.missing_libraries() == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_main_lists_every_missing_package_in_one_command(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(syscheck, "missing_libraries", lambda: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    monkeypatch.setattr(
        syscheck.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None
    )
    assert syscheck.main([]) == 1
    err = capsys.readouterr().err
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4" in err


def test_install_runs_apt_get_when_allowed(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    state = {"missing": ["libxcb-icccm.so.4"]}
    monkeypatch.setattr(syscheck, "missing_libraries", lambda: list(state["missing"]))
    monkeypatch.setattr(syscheck, "install_command", lambda pkgs: ["apt-get", "install", "-y", *pkgs])
    ran = []

    def fake_run(cmd, *a, **k):
        ran.append(cmd)
        state["missing"] = []
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(syscheck.subprocess, "run", fake_run)
    assert syscheck.main(["--install"]) == 0
    assert ran == [["apt-get", "install", "-y", "libxcb-icccm4"]]


def test_offscreen_needs_nothing(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(syscheck, "missing_libraries", lambda: ["libxcb-icccm.so.4"])
    assert syscheck.main([]) == 0
