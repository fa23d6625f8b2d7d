"""The web inspector in a real browser: Debian's headless Chromium
(``/usr/bin/chromium``) driven by Playwright (which never downloads a
browser here) against a real ``ragc serve`` subprocess with a token. A
scripted ``approval_flow`` run is started from the page; its nodes change
state on the page while it runs; the interrupt is answered from the page and
the run completes; the model call's input and output and the state are
shown; the diff page compares two files. Screenshots are saved in
``tmp_path`` (the test artifacts) and, when ``RAGC_SCREENSHOTS`` names a
folder, there too (``RAGC_SCREENSHOTS=docs`` refreshes
``docs/serve-inspector.png``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; "
                                       ".ci/run installs it when run as root)")

SLOW_DRAFT = [{"when": "Write a short announcement", "text": "Draft one", "delay_ms": 1500}]


def _save(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    target = os.environ.get("RAGC_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / name)
    return shot


def test_inspector_shows_a_live_run_and_answers_its_interrupt(make_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    server = make_server(token="browser-token", default=SLOW_DRAFT)
    (server.root / "approval_v2.rag").write_text(
        (server.root / "workflows" / "approval_flow.rag").read_text().replace("max_model_calls 5", "max_model_calls 3"))
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                   args=ARGS, viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/?token=browser-token#runs")
            expect(page.locator("#start-file option[value='workflows/approval_flow.rag']")).to_have_count(1)
            page.select_option("#start-file", "workflows/approval_flow.rag")
            page.fill("#start-input", '{"topic": "the inspector"}')
            page.click("#start-button")

            node = lambda name: page.locator(f'#graph g[data-node="{name}"]')  # noqa: E731
            expect(node("draft")).to_have_attribute("data-state", "running", timeout=10_000)
            expect(node("publish")).to_have_attribute("data-state", "pending")
            expect(page.locator("#run-status")).to_have_attribute("data-status", "running")
            expect(node("draft")).to_have_attribute("data-state", "completed", timeout=10_000)
            expect(node("approve")).to_have_attribute("data-state", "waiting", timeout=10_000)
            expect(page.locator("#interrupt-question")).to_have_text("Publish this draft?")
            expect(page.locator("#run-status")).to_have_attribute("data-status", "interrupted")
            expect(page.locator("#runs tbody tr").first).to_contain_text("waiting")  # the word of `runs list`
            expect(page.locator(".call-input").first).to_contain_text("Write a short announcement about the inspector")
            _save(page, tmp_path, "serve-inspector.png")

            page.click('#interrupt button[data-answer="publish"]')
            expect(page.locator("#run-status")).to_have_attribute("data-status", "completed", timeout=10_000)
            expect(node("publish")).to_have_attribute("data-state", "completed")
            expect(page.locator("#interrupt")).to_be_hidden()
            expect(page.locator("#timeline li[data-type='run_finished']")).to_have_count(2)
            expect(page.locator("#state")).to_contain_text("Draft one")
            expect(page.locator(".call[data-call-kind='tool']")).to_contain_text("write_file")
            _save(page, tmp_path, "serve-inspector-completed.png")
            assert (server.root / "ws" / "announcement.md").read_text() == "Draft one"

            page.click("#nav-diff")
            expect(page.locator("#page-runs")).to_be_hidden()
            page.select_option("#diff-old", "workflows/approval_flow.rag")
            page.select_option("#diff-new", "approval_v2.rag")
            page.click("#diff-form button")
            expect(page.locator("#diff-table tr.replace")).to_have_count(1)
            expect(page.locator("#diff-table tr.replace td").nth(1)).to_contain_text("max_model_calls 3")
            expect(page.locator("#diff-summary")).to_contain_text("max_model_calls")
            _save(page, tmp_path, "serve-diff.png")
            assert not errors, errors
        finally:
            ctx.close()
