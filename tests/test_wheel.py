"""A built wheel is a working install: shipped models, style sheet and demo media inside it."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
import venv

from tests.conftest import REPO


def test_built_wheel_installs_and_runs_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(REPO),
            "-w",
            str(dist),
        ],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=tmp_path,
    )
    wheel = glob.glob(str(dist / "ferapp-*.whl"))
    assert len(wheel) == 1
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies (torch, dlib, OpenCV...) come from the test's own environment, through a
    # path entry: its .pth files (the editable install of this repository) are NOT processed
    with open(os.path.join(site, "zz_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            site,
            wheel[0],
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
        "FERAPP_USER_MODELS_DIR": str(tmp_path / "um"),
        "FERAPP_CACHE_DIR": str(tmp_path / "cache"),
    }
    where = subprocess.run(
        [
            str(py),
            "-c",
            "import ferapp, ferapp.paths as p; print(ferapp.__file__); "
            "print(p.shipped_models_dir()); print(p.resources_dir())",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    lines = where.stdout.split()
    assert where.returncode == 0, where.stderr
    assert (
        lines[0].startswith(site) and lines[1].startswith(site) and lines[2].startswith(site)
    )  # not the repo
    ferapp_exe = env_dir / "bin" / "ferapp"
    with open(ferapp_exe, "w") as f:
        f.write(f"#!{py}\nimport sys\nfrom ferapp.cli import main\nsys.exit(main())\n")
    ferapp_exe.chmod(0o755)
    models = subprocess.run(
        [str(ferapp_exe), "models"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert models.returncode == 0, models.stderr
    assert "(shipped)" in models.stdout and "*" in models.stdout  # the default shipped model is listed
    out = tmp_path / "t.csv"
    run = subprocess.run(
        [str(ferapp_exe), "analyze", "demo", "--max-frames", "10", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "frames with a face: 10/10" in run.stdout and out.exists()
