"""The web console in a real browser (Debian's Chromium, headless), with a client certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiance.consortium import Home, access, operations
from confiance.consortium.home import TENANTS
from confiance.server import BackgroundServer, create_app, following_crl

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
PASSPHRASE = "correct horse battery"

pytestmark = pytest.mark.browser


@pytest.fixture
def served(home: Home):
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run scripts/system-deps.sh (make test does)")
    for tenant in TENANTS:
        operations.witness(home, tenant)
    analyst = access.issue(
        home, tenant="academie", role="tenant-admin", name="Claude Martin", passphrase=PASSPHRASE
    )
    credentials = access.server_credentials(home)
    context = following_crl(credentials.context, credentials.crl)
    with BackgroundServer(create_app(home), host="127.0.0.1", port=0, context=context) as server:
        yield server, analyst


def test_triage_an_alert_and_verify_a_proof_in_the_browser(home, served) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, person = served
    origin = f"https://127.0.0.1:{server.port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                # the server's certificate is from the consortium CA, which this
                # throwaway browser profile does not trust; the client side is real
                ignore_https_errors=True,
                locale="fr-FR",
                client_certificates=[
                    {
                        "origin": origin,
                        "certPath": str(person.certificate),
                        "keyPath": str(person.key),
                        "passphrase": PASSPHRASE,
                    }
                ],
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{origin}/")
            expect(page.locator("#who")).to_contain_text("academie (tenant-admin)")
            expect(page.locator(".simulated")).to_have_text("attestation SIMULÉE")
            rows = page.locator("#alert-table tbody tr")
            expect(rows.first).to_be_visible()
            rows.first.click()
            expect(page.locator("#alert-detail")).to_be_visible()
            page.select_option("#t-status", "investigating")
            page.fill("#t-comment", "vu avec le RSSI")
            page.click("#triage button[type=submit]")
            expect(page.locator("#t-result")).to_contain_text("enregistré")
            expect(page.locator("#d-history li").last).to_contain_text("vu avec le RSSI")
            page.fill("#r-reason", "incident 2026-118")
            page.click("#reveal button[type=submit]")
            expect(page.locator("#r-result li").first).to_contain_text("demande envoyée à")
            page.screenshot(path=str(ARTIFACTS / "console-alerts.png"), full_page=True)

            page.click("nav button[data-tab=ledger]")
            expect(page.locator("#l-checkpoint")).to_contain_text("Point de contrôle signé")
            page.fill("#p-index", "5")
            page.click("#prove button[type=submit]")
            result = page.locator("#p-result")
            expect(result).to_contain_text("preuve vérifiée dans ce navigateur")
            expect(result).to_contain_text("signature du point de contrôle vérifiée")
            page.screenshot(path=str(ARTIFACTS / "console-ledger.png"), full_page=True)

            # regression: a verifier key whose base64 holds "+" was cut short
            assert page.evaluate("splitVkey('log.example+0011aabb+AQ+b/c+==')") == [
                "log.example",
                "0011aabb",
                "AQ+b/c+==",
            ]
            page.click("nav button[data-tab=contracts]")
            page.locator("#c-table tbody tr").first.click()
            expect(page.locator("#c-yaml")).to_contain_text("purpose")
            expect(page.locator("#c-diff")).to_contain_text("aucune version précédente")
            page.click("#lang")
            page.click("nav button[data-tab=storage]")
            expect(page.locator("#s-table tbody tr")).to_have_count(6)
            expect(page.locator("#s-summary")).to_contain_text("losing 2 nodes loses nothing")
            page.click("nav button[data-tab=volumes]")
            expect(page.locator("#v-ingestion svg rect").first).to_be_attached()
            page.click("nav button[data-tab=review]")
            # no protection-of-minors contract here: the refusal is shown, not hidden
            expect(page.locator("#error")).to_contain_text("protection-mineurs")
            errors.clear()  # the browser logs that 4xx answer as a failed resource
            # the request made from the alert, answered by the owner (this admin's tenant)
            page.click("nav button[data-tab=reid]")
            mine = page.locator("#rq-table tbody tr", has_text="academie").first
            expect(mine).to_contain_text("pending")
            expect(mine.locator("summary")).to_contain_text("pseudonym(s) asked")
            mine.locator(".rq-why").fill("CERT case 2026-118 confirmed")
            mine.get_by_role("button", name="Approve").click()
            answered = page.locator("#rq-table tbody tr", has_text="answered").first
            expect(answered).to_contain_text("→")
            page.screenshot(path=str(ARTIFACTS / "console-reidentification.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    history = operations.triage_history(home, "academie")
    assert [step["status"] for steps in history.values() for step in steps] == ["investigating"]
    assert any(e.kind == "alert.triaged" for e in home.ledger().entries())


def test_the_console_loads_nothing_from_elsewhere() -> None:
    console = Path(__file__).parents[2] / "src" / "confiance" / "server" / "console"
    for path in console.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "//cdn" not in text
    # and the page's content security policy allows only its own origin
    assert "default-src 'self'" in (console / "index.html").read_text()
