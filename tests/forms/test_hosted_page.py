"""The hosted form page in a real headless browser (Debian's chromium driven by Playwright): a
visitor on a phone opens it, fills it in and sends it, and the lead arrives through the API."""

import shutil
import uuid

import httpx
import pytest
from playwright.async_api import Dialog, async_playwright

from tests.conftest import PASSWORD, LiveServer
from tests.factories import API, make_form
from tests.worker_harness import eventually, running_worker

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.usefixtures("empty_queue"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on PATH: install Debian's with `sudo apt-get install -y chromium` "
        "(.ci/run installs it); Playwright's own browser download does not work offline",
    ),
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


async def _owner_headers(http: httpx.AsyncClient) -> dict[str, str]:
    signup = await http.post(
        f"{API}/auth/signup",
        json={"workspace_name": "live-hosted-form", "email": f"{uuid.uuid4().hex}@form.vn",
              "password": PASSWORD, "full_name": "Chủ showroom"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    return {"Authorization": f"Bearer {signup.json()['access_token']}"}


async def test_a_visitor_on_a_phone_sends_the_hosted_form_and_the_lead_arrives(
    live_server: LiveServer, database_url: str, redis_url: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        headers = await _owner_headers(http)
        form = await make_form(http, headers, consent_text="Tôi đồng ý để được liên hệ.")
        typed_name = '<img src=x onerror="alert(1)"> Ánh'
        dialogs: list[str] = []

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            context = await browser.new_context(locale="vi-VN", **PHONE)  # type: ignore[arg-type]
            page = await context.new_page()

            async def note(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            page.on("dialog", note)
            await page.goto(f"{live_server.url}/f/{form['key']}?utm_source=zalo&utm_campaign=tet")
            assert await page.locator("label[for=f-full_name]").inner_text() == "Họ và tên *"
            assert await page.get_by_text("Tôi đồng ý để được liên hệ.").is_visible()
            await page.fill("#f-full_name", typed_name)
            await page.fill("#f-phone", "0912 345 678")
            await page.select_option("#f-model", "Fortuner")
            await page.click("button[type=submit]")
            result = page.locator("#result.ok")
            await result.wait_for(timeout=10_000)
            thanks = await result.inner_text()
            images = await page.locator("img").count()
            await browser.close()

        assert thanks.startswith(f"Cảm ơn {typed_name}!")  # shown back as the text it is
        assert images == 0
        assert dialogs == []

        async with running_worker(database_url, redis_url):

            async def arrived() -> bool:
                found = (await http.get(f"{API}/leads", headers=headers)).json()["data"]
                return len(found) == 1

            assert await eventually(arrived)
        (lead,) = (await http.get(f"{API}/leads", headers=headers)).json()["data"]
        assert lead["full_name"] == typed_name
        assert lead["phone_e164"] == "+84912345678"
        assert (lead["utm_source"], lead["utm_campaign"]) == ("zalo", "tet")
        assert lead["form_id"] == form["id"]


async def test_the_hosted_page_speaks_english_to_who_asks(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        headers = await _owner_headers(http)
        form = await make_form(http, headers)

        english = await http.get(f"/f/{form['key']}", headers={"Accept-Language": "en-GB,en"})
        chosen = await http.get(f"/f/{form['key']}?lang=vi", headers={"Accept-Language": "en"})
        missing = await http.get("/f/khong-co-form-nay")

    assert '<html lang="en">' in english.text
    assert ">Full name" in english.text
    assert '<html lang="vi">' in chosen.text
    assert "script-src 'nonce-" in english.headers["content-security-policy"]
    assert missing.status_code == 404
