"""Headless Chromium driven over the DevTools protocol on a pipe: no driver download, no websocket package.

``--remote-debugging-pipe`` makes Chromium read NUL-terminated JSON commands on fd 3 and answer on fd 4.
WebGL 2 headless comes from ANGLE on SwiftShader (``--use-angle=swiftshader --enable-unsafe-swiftshader``):
measured on Debian's Chromium 156, plain ``--headless`` offers no WebGL context on a machine without a GPU.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--mute-audio",
    "--hide-scrollbars",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--remote-debugging-pipe",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def unavailable(reason: str) -> None:
    """Under CI a missing browser or WebGL is a failure (the parity claim would go unchecked), else a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


class CdpError(RuntimeError):
    pass


class Chromium:
    """One browser process; ``page()`` opens a tab. Replies are matched by id; events are kept for inspection."""

    def __init__(self, executable: str, timeout: float = 30.0, extra_flags: list[str] | None = None) -> None:
        self.timeout = timeout
        self.webgl_version: str | None = None
        self.profile = tempfile.mkdtemp(prefix="ds-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        # bash (dash cannot name fds above 9) moves our pipe ends onto fds 3 and 4 and execs the browser.
        moves = [f"3<&{cmd_r}" if cmd_r != 3 else "", f"4>&{out_w}" if out_w != 4 else ""]
        moves += [f"{fd}>&-" for fd in (cmd_r, out_w) if fd not in (3, 4)]
        script = 'exec "$0" "$@" ' + " ".join(m for m in moves if m)
        self.proc = subprocess.Popen(
            [
                "bash",
                "-c",
                script,
                executable,
                *FLAGS,
                *(extra_flags or []),
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            pass_fds=(cmd_r, out_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._out_r, 1 << 20)
            if not chunk:
                break
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        with self._cond:
            self._next += 1
            msg_id = self._next
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise CdpError(f"{method}: the browser exited (exit status {self.proc.poll()})") from None
        with self._cond:
            if not self._cond.wait_for(lambda: msg_id in self._replies or not self._reader.is_alive(), self.timeout):
                raise CdpError(f"{method}: no reply in {self.timeout} s")
            if msg_id not in self._replies:
                raise CdpError(f"{method}: the browser exited")
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, since: int) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for e in self.events[since:]:
                if e.get("method") == method and e.get("sessionId") == session:
                    return e
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, self.timeout):
                raise CdpError(f"no {method} event in {self.timeout} s")
            return found() or {}

    def page(self, width: int = 800, height: int = 600, scale: float = 1.0) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session, width, height, scale)

    def close(self) -> None:
        with contextlib.suppress(CdpError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        self._reader.join(5)
        os.close(self._out_r)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Chromium, target: str, session: str, width: int, height: int, scale: float) -> None:
        self.browser, self.target, self.session = browser, target, session
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")
        self.viewport(width, height, scale)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def viewport(self, width: int, height: int, scale: float = 1.0) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
        )

    def goto(self, url: str) -> None:
        since = len(self.browser.events)
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise CdpError(f"navigating to {url}: {reply['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, since)

    def eval(self, expression: str) -> Any:
        """Evaluate (awaiting a promise); a thrown error becomes a CdpError with the page's message."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"page error: {text}\nconsole: {self.console()}")
        return reply["result"].get("value")

    def console(self) -> list[str]:
        out = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            if e.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in e["params"]["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text", "exception"))
        return out

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def mouse_move(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def executable() -> str:
    exe = next((p for p in (shutil.which(c) for c in CANDIDATES) if p), None)
    if exe is None:
        unavailable("no Chromium executable on PATH (Debian: apt-get install chromium)")
    return str(exe)


def launch() -> Chromium:
    """A browser with WebGL 2, or a skip (a failure under CI) saying what is missing."""
    browser = Chromium(executable())
    try:
        page = browser.page()
        version = page.eval(
            "(() => { const gl = document.createElement('canvas').getContext('webgl2');"
            " return gl ? gl.getParameter(gl.VERSION) : null; })()"
        )
        page.close()
    except CdpError as err:
        browser.close()
        unavailable(f"Chromium did not answer over the DevTools pipe: {err}")
    if not version:
        browser.close()
        unavailable("Chromium offers no WebGL 2 context with SwiftShader (--use-angle=swiftshader)")
    browser.webgl_version = version
    return browser
