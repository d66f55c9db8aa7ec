"""The README's first steps work as written when pasted into a shell."""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, World

README = Path(__file__).resolve().parents[1] / "README.md"


def _curl_commands() -> list[list[str]]:
    """Each `curl` of the README's shell blocks, continuation lines joined, as argv."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.startswith("curl ")]


def test_no_curl_url_in_the_readme_holds_a_raw_space() -> None:
    urls = [arg for argv in _curl_commands() for arg in argv if "localhost:" in arg]

    assert len(urls) >= 3
    assert [url for url in urls if " " in url] == []


async def test_the_readmes_search_finds_the_lead_its_example_made(
    client: httpx.AsyncClient, world: World
) -> None:
    (search,) = [argv for argv in _curl_commands() if "--data-urlencode" in argv]
    field, _, value = search[search.index("--data-urlencode") + 1].partition("=")
    made = await client.post(
        "/api/v1/leads", json={"full_name": "Trần Thị Lan"}, headers=world.sales.headers
    )

    found = await client.get("/api/v1/leads", params={field: value}, headers=world.sales.headers)

    assert "-G" in search  # the encoded data goes into the query string of a GET
    assert [lead["id"] for lead in found.json()["data"]] == [made.json()["id"]]


def _posted_bodies(path: str) -> list[dict[str, Any]]:
    """The JSON each README `curl … --data @- <<'JSON'` posts to a URL ending in `path`."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        for command, body in re.findall(r"(curl .*?)<<'JSON'\n(.*?)\nJSON\n", block, flags=re.S):
            argv = shlex.split(command.replace("\\\n", " "))
            url = next(arg for arg in argv if "/api/v1/" in arg)
            if url.endswith(path):
                found.append(json.loads(body))
    return found


async def test_the_readmes_integrations_are_accepted_and_its_google_post_stored(
    client: httpx.AsyncClient, world: World
) -> None:
    bodies = _posted_bodies("/api/v1/integrations")
    made = []
    for body in bodies:
        response = await client.post("/api/v1/integrations", json=body, headers=world.admin.headers)
        assert response.status_code == 201, response.text
        made.append(response.json())
    (google,) = [m for m in made if m["provider"] == "google"]
    (lead,) = _posted_bodies("/api/v1/intake/google/$INTEGRATION_ID")

    posted = await client.post(f"/api/v1/intake/google/{google['id']}", json=lead)

    assert sorted(m["provider"] for m in made) == ["generic", "google", "meta"]
    assert posted.status_code == 200, posted.text


@pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("openssl")),
    reason="the README's signing snippet is a shell script of curl and openssl: install both "
    "(Debian: apt-get install -y curl openssl) to run it",
)
def test_the_readmes_signed_post_is_accepted_as_written(
    live_server: LiveServer, tmp_path: Path
) -> None:
    (config,) = [b for b in _posted_bodies("/api/v1/integrations") if b["provider"] == "generic"]
    made = httpx.post(f"{live_server.url}/api/v1/integrations", json=config,
                      headers=live_server.headers)  # fmt: skip
    assert made.status_code == 201, made.text
    (script,) = [
        block
        for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
        if "X-Sen-Signature" in block
    ]
    script = script.replace("http://127.0.0.1:8000", live_server.url)

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "INTEGRATION_ID": made.json()["id"]},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["redelivered"] == 0
    stored = httpx.get(
        f"{live_server.url}/api/v1/intake/submissions",
        params={"integration_id": made.json()["id"]},
        headers=live_server.headers,
    ).json()["data"]
    assert [s["external_id"] for s in stored] == ["LP-1001"]
