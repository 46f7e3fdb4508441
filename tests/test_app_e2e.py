"""`opengap app` end to end in a real browser: start the server, open the page in headless
Chromium (Debian's ``chromium`` driven by Playwright), move a slider, and check that the plot
is redrawn with different content; step the world once; overlay the baseline. Screenshots go
to the test's temporary folder. Nothing is downloaded: Playwright launches the system
browser.

A second test plays an attacker (issue 18): a page served under a foreign name that
resolves to this machine (DNS rebinding: ``--host-resolver-rules`` maps ``evil.example`` to
127.0.0.1) is refused, a websocket opened from a foreign origin is refused while the same
websocket from the served page opens, and a scenario choice of ``../../x/evil`` sent
through the page's own Select widget is refused with one plain line.

Skipped, with the reason, when there is no ``chromium`` on this machine or no ``playwright``
package (``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
START_TIMEOUT_S = 60
UPDATE_TIMEOUT_MS = 40_000


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _browser_and_playwright() -> tuple[str, Any]:
    """Debian's Chromium and Playwright's sync API, or skip the test saying which is missing."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium browser on this machine (Debian package 'chromium'; "
                    ".ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install -e '.[test]')")
    return browser, sync_api


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"server not ready within {START_TIMEOUT_S} s: {log.read_text()[-2000:]}")


def _changes(page, plot, before: bytes) -> bool:
    """Wait (up to UPDATE_TIMEOUT_MS) until the plot's pixels differ from ``before``."""
    for _ in range(UPDATE_TIMEOUT_MS // 500):
        if plot.screenshot() != before:
            return True
        page.wait_for_timeout(500)
    return False


@pytest.fixture()
def server(tmp_path: Path):
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sim", "app", "baseline", "--port",
                                 str(port)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_slider_redraws_plot(server: str, tmp_path: Path) -> None:
    browser, sync_api = _browser_and_playwright()

    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=browser, headless=True,
            args=BROWSER_FLAGS, viewport={"width": 1600, "height": 1200})
        try:
            page = context.new_page()
            page.goto(server)
            plot = page.locator(".og-plot-gap img")
            plot.wait_for(timeout=UPDATE_TIMEOUT_MS)
            status = page.locator(".og-status")
            sync_api.expect(status).to_contain_text("runs in", timeout=UPDATE_TIMEOUT_MS)
            sync_api.expect(status).not_to_contain_text("recomputing", timeout=UPDATE_TIMEOUT_MS)
            page.screenshot(path=tmp_path / "dashboard_before.png", full_page=True)
            before = plot.screenshot()

            # Distillation efficiency 0.30 -> 0.50: four steps of 0.05 with the keyboard.
            slider = page.locator(".v-input", has_text="Distillation efficiency")
            slider.locator("[role=slider]").first.focus()
            for _ in range(4):
                page.keyboard.press("ArrowRight")
            sync_api.expect(slider).to_contain_text("0.50", timeout=UPDATE_TIMEOUT_MS)
            sync_api.expect(status).to_contain_text("distillation 0.50",
                                                    timeout=UPDATE_TIMEOUT_MS)
            sync_api.expect(status).not_to_contain_text("recomputing", timeout=UPDATE_TIMEOUT_MS)
            after = plot.screenshot()
            assert after != before, "the gap plot did not change after the slider moved"

            # Step the world one month: the month counter and the plot move on.
            page.get_by_role("button", name="Step").click()
            sync_api.expect(page.locator(".og-world-month")).to_contain_text(
                "(1/45 months)", timeout=UPDATE_TIMEOUT_MS)
            # The lab table shows each lab's run in progress and its contracts.
            labs = page.locator(".og-labs")
            sync_api.expect(labs).to_contain_text("contract, k H100e", timeout=UPDATE_TIMEOUT_MS)
            sync_api.expect(labs).to_contain_text("OpenAI")
            sync_api.expect(labs).to_contain_text("months left")
            # "Compare with baseline" overlays the baseline's medians on the same plot.
            stepped = plot.screenshot()
            page.get_by_text("Compare with baseline").click()
            assert _changes(page, plot, stepped), "the baseline overlay did not appear"
            page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
        finally:
            context.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


WEBSOCKET_PROBE = """(url) => new Promise((done) => {
  const ws = new WebSocket(url);
  const timer = setTimeout(() => done("timeout"), 10000);
  ws.onopen = () => { clearTimeout(timer); ws.close(); done("open"); };
  ws.onerror = () => { clearTimeout(timer); done("refused"); };
})"""


def test_foreign_origin_and_traversal_are_refused(server: str, tmp_path: Path) -> None:
    browser, sync_api = _browser_and_playwright()
    port = server.rstrip("/").rsplit(":", 1)[1]
    ws_url = f"ws://127.0.0.1:{port}/jupyter/api/kernels/probe/channels?session_id=probe"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=browser, headless=True,
            args=[*BROWSER_FLAGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"],
            viewport={"width": 1600, "height": 1200})
        try:
            page = context.new_page()
            # DNS rebinding: this server under a name an attacker controls.
            response = page.goto(f"http://evil.example:{port}/")
            assert response is not None and response.status == 403
            assert "is not this server" in page.content()
            # A websocket from a foreign page (served by the browser itself: no network).
            page.route("http://evil.example/**", lambda route: route.fulfill(
                status=200, content_type="text/html", body="<html><body>evil</body></html>"))
            page.goto("http://evil.example/")
            assert page.evaluate(WEBSOCKET_PROBE, ws_url) == "refused"
            # The same websocket from the served page opens: the origin made the difference.
            page.unroute("http://evil.example/**")
            page.goto(server)
            page.locator(".og-plot-gap img").wait_for(timeout=UPDATE_TIMEOUT_MS)
            assert page.evaluate(WEBSOCKET_PROBE, ws_url) == "open"
            # A traversal value sent through the page's own scenario Select (as a tampered
            # client would): refused with one plain line; the scenario stays.
            page.evaluate("""() => {
              const el = Array.from(document.querySelectorAll('.v-select'))
                .find(e => e.innerText.includes('Scenario'));
              el.__vue__.$emit('input', '../../x/evil');
            }""")
            alert = page.locator(".v-alert", has_text="not one of the shipped scenarios")
            sync_api.expect(alert).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
            assert "Traceback" not in page.inner_text("body")
            assert "baseline" in page.locator(".og-status").inner_text()
            page.screenshot(path=tmp_path / "refused.png", full_page=True)
        finally:
            context.close()
