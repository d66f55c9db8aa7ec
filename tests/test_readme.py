"""The README's first steps work as written when pasted into a shell."""

import re
import shlex
from pathlib import Path

import httpx

from tests.conftest import World

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
