"""Servers and a browser for the browser tests: Voila or JupyterLab on a free loopback
port, stopped by PID in the fixture's finaliser, and Debian's Chromium driven by Playwright
(never ``playwright install``: it cannot download here). Every wait is bounded.

Without /usr/bin/chromium these tests skip, unless ``ADLIB_BROWSER_REQUIRED=1`` (set by
``make test``, hence CI), where they fail: ``apt-get install chromium`` provides it.
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("ADLIB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = REPO / "runs" / "browser"  # screenshots for people to look at


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Poll http://127.0.0.1:port/path until it answers (any status); the status."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it answered")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            status = c.getresponse().status
            c.close()
            return status
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout:.0f} s")


class Server:
    """A server process in its own process group (so its kernels stop with it)."""

    def __init__(self, cmd: list[str], port: int, log: Path, env: dict):
        self.port, self.log = port, log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=REPO, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


def server_env(tmp: Path, **extra) -> dict:
    """Quick mode, a scratch runs root and Jupyter's state dirs under ``tmp`` (and ``extra``)."""
    env = dict(os.environ, **extra, ADLIB_QUICK="1", ADLIB_RUNS=str(tmp / "runs"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_DATA_DIR=str(tmp / "data"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} is missing: apt-get install chromium (or set ADLIB_CHROMIUM)"
        if os.environ.get("ADLIB_BROWSER_REQUIRED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records JavaScript errors in ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(60_000)
    p.js_errors, p.requests = [], []
    p.on("pageerror", lambda err: p.js_errors.append(str(err)))
    p.on("request", lambda req: p.requests.append(req.url))  # every URL the page asks for
    yield p
    context.close()


@pytest.fixture
def serve(tmp_path):
    """``serve(cmd_builder, ready_path, **env)``: start a server on a free port (``env``: extra
    environment variables, e.g. MPLBACKEND="Agg"); stopped at teardown."""
    started = []

    def start(build, ready_path: str = "/", timeout: float = 60.0, **env) -> Server:
        port = free_port()
        s = Server(build(port), port, tmp_path / f"server-{port}.log", server_env(tmp_path, **env))
        started.append(s)
        try:
            wait_http(port, ready_path, s.proc, timeout)
        except Exception as err:
            s.stop()
            raise RuntimeError(f"{err}; its log:\n{s.log.read_text()[-3000:]}") from err
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
