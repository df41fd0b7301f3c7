"""A small Chrome DevTools Protocol client over a pipe, for driving headless Chromium in tests.

``Browser`` starts ``chromium --headless --remote-debugging-pipe``: Chromium reads commands
from its fd 3 and writes responses and events to its fd 4, each a JSON object followed by a
NUL byte. Every wait is bounded (``CdpTimeout``); closing the browser kills it if it does not
quit by itself. ``Page`` is one tab attached with ``flatten: true`` (its commands carry the
``sessionId``): navigate, read the text, fill fields, click like a mouse.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Browser", "Page", "CdpError", "CdpTimeout", "CHROMIUM_FLAGS"]

#: Flags for a quiet, offline browser (this machine has no network beyond loopback).
CHROMIUM_FLAGS = (
    "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--password-store=basic", "--use-mock-keychain", "--window-size=800,1000",
)


class CdpError(Exception):
    """The browser answered a command with an error, or went away."""


class CdpTimeout(CdpError):
    """No answer (or no such event) within the time allowed."""


class Browser:
    """``with Browser(chromium, profile_dir) as browser: page = browser.new_page()``."""

    def __init__(self, executable: str, profile_dir: Path, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        commands_read, self._commands = os.pipe()  # we write, Chromium reads on its fd 3
        self._replies, replies_write = os.pipe()  # Chromium writes on its fd 4, we read
        args = [executable, *CHROMIUM_FLAGS, "--remote-debugging-pipe",
                f"--user-data-dir={profile_dir}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox

        def child_fds() -> None:  # in the child, before exec: the pipe ends as fds 3 and 4
            low_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
            low_write = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
            os.dup2(low_read, 3)
            os.dup2(low_write, 4)
            os.close(low_read)
            os.close(low_write)

        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, close_fds=False,
                                            preexec_fn=child_fds)
        except BaseException:
            for fd in (self._commands, self._replies):
                os.close(fd)
            raise
        finally:
            os.close(commands_read)
            os.close(replies_write)

    # -- protocol -------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Send one command and wait for its response; its ``result``, or ``CdpError``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            reply = self._read(deadline, f"answer to {method}")
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result") or {}
                return result
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str, *, session: str | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """The oldest unread event ``method`` (of ``session``), waiting for it if needed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and (session is None or event.get("sessionId") == session):
                    del self._events[index]
                    params: dict[str, Any] = event.get("params") or {}
                    return params
            reply = self._read(deadline, f"event {method}")
            if "method" in reply:
                self._events.append(reply)

    def drop_events(self, method: str, *, session: str | None = None) -> None:
        """Forget the unread events ``method`` (before an action whose own event we wait for)."""
        self._events = [e for e in self._events if not (
            e["method"] == method and (session is None or e.get("sessionId") == session))]

    def _read(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpTimeout(f"no {what} within the time allowed")
            ready, _, _ = select.select([self._replies], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise CdpError(f"the browser closed its pipe while waiting for {what}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    # -- tabs and lifetime ----------------------------------------------------------------

    def new_page(self) -> Page:
        """A new tab, attached (flat session), with page events enabled."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, str(target), str(session))
        page.send("Page.enable")
        return page

    def close(self) -> None:
        """Ask the browser to quit; kill it if it has not within 5 s. Closes the pipes."""
        try:
            if self.process.poll() is None:
                try:
                    self.send("Browser.close", timeout=2)
                except (CdpError, OSError):
                    pass
                try:
                    self.process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            for fd in (self._commands, self._replies):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Page:
    """One tab: its commands go through the browser with the tab's ``sessionId``."""

    def __init__(self, browser: Browser, target_id: str, session: str) -> None:
        self.browser, self.target_id, self.session = browser, target_id, session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait until the page has loaded."""
        self.browser.drop_events("Page.loadEventFired", session=self.session)
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CdpError(f"cannot open {url}: {answer['errorText']}")
        self.wait_for_load()

    def wait_for_load(self) -> None:
        self.browser.wait_event("Page.loadEventFired", session=self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CdpError(f"{expression!r} failed: "
                           f"{details.get('exception', {}).get('description') or details.get('text')}")
        return answer.get("result", {}).get("value")

    def text(self) -> str:
        """What the page shows (``document.body.innerText``)."""
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))

    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def status(self) -> int:
        """The HTTP status of the document now shown."""
        return int(self.evaluate("performance.getEntriesByType('navigation')[0].responseStatus"))

    def fill(self, selector: str, value: str) -> None:
        """Clear the field, focus it and type ``value`` into it (as text input, like a keyboard)."""
        found = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                              " if (!e) return false; e.focus(); e.value = ''; return true; })()")
        if not found:
            raise CdpError(f"no field {selector} on {self.url()}")
        self.send("Input.insertText", {"text": value})

    def click(self, selector: str) -> None:
        """Bring the tab to the front, then press and release the left mouse button at the
        middle of the element."""
        self.send("Page.bringToFront")
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; })()")
        if not box or box[2] <= 0 or box[3] <= 0:
            raise CdpError(f"nothing visible to click at {selector} on {self.url()}")
        x, y = box[0], box[1]
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 0 if kind == "mouseMoved" else 1})

    def click_and_wait_for_load(self, selector: str) -> None:
        """Click (a submit button, a link) and wait until the next page has loaded."""
        self.browser.drop_events("Page.loadEventFired", session=self.session)
        self.click(selector)
        self.wait_for_load()

    def screenshot(self, path: Path, *, width: int = 1200) -> Path:
        """A PNG of the whole page (``width`` CSS pixels wide, as tall as the page) at ``path``."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 800)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": min(height, 4000),
                                                         "deviceScaleFactor": 1, "mobile": False})
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)") or 800)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width,
                                                             "height": min(height, 4000), "scale": 1}})
        self.send("Emulation.clearDeviceMetricsOverride")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def back(self) -> None:
        """The previous entry of the tab's history, loaded."""
        self.browser.drop_events("Page.loadEventFired", session=self.session)
        self.evaluate("history.back()")
        self.wait_for_load()
