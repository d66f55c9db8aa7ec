"""The platforms' side of an integration, for tests: Meta's Graph API as a real HTTP server on
127.0.0.1 (leads it holds, failures queued per lead, the calls it got), and posts signed the
way Meta, Google Ads, TikTok and a generic source sign them."""

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core.settings import get_settings
from tests.conftest import settings_changed, sign_up
from tests.factories import API, META_CONFIG, make_integration
from tests.intake_harness import settled
from tests.servers import serve

VERSION = "v21.0"
FORM_ID = str(META_CONFIG["form_ids"][0])  # type: ignore[index]
PAGE_ID = "106270412345678"
GOOGLE_KEY = "khoa-bi-mat-google-2027"
SIGNING_SECRET = "0b5d3c7e9a1f4e2b8c6d0a9e7f3b1c5d"
_ids = itertools.count(1_000_000_000_001)


def _error(status: int, code: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    return JSONResponse(body, status_code=status)


class FakeGraph:
    """As much of Meta's Graph API as Sen calls: `GET /{lead id}` and `GET /{form id}/leads`
    (time filtering, cursor paging), the page token checked on each (else error 190)."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route(f"/{VERSION}/{{path:path}}", self._answer)])
        self.url = ""
        self.reset()

    def reset(self) -> None:
        self.token = str(META_CONFIG["page_access_token"])
        self.leads: dict[str, dict[str, Any]] = {}
        self.queued: dict[str, list[str]] = {}  # id -> answers before the lead: 500, timeout
        self.down = False  # every call a 503
        self.calls: list[str] = []

    def add_lead(
        self, *, form_id: str = FORM_ID, created: datetime | None = None, **answers: str
    ) -> str:
        """A lead someone left on a lead form; `answers` by question (`full_name`, …)."""
        lead_id = str(next(_ids))
        created = created or datetime.now(UTC)
        self.leads[lead_id] = {
            "id": lead_id,
            "created_time": created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "form_id": form_id,
            "ad_id": "120200000000000001",
            "field_data": [{"name": k, "values": [v]} for k, v in answers.items()],
        }
        return lead_id

    def fail(self, lead_id: str, *answers: str) -> None:
        """Answer `500` or `timeout` (slower than Sen waits) first, in this order."""
        self.queued[lead_id] = list(answers)

    def fetches_of(self, lead_id: str) -> int:
        return self.calls.count(lead_id)

    async def _answer(self, request: Request) -> Response:
        path = request.path_params["path"]
        self.calls.append(path)
        if self.down:
            return _error(503, 2, "Service temporarily unavailable")
        if request.query_params.get("access_token") != self.token:
            return _error(400, 190, "Error validating access token: Session has expired")
        if path.endswith("/leads"):
            return self._form_leads(path.removesuffix("/leads"), request)
        queued = self.queued.get(path)
        if queued:
            what = queued.pop(0)
            if what == "timeout":
                await asyncio.sleep(get_settings().meta_timeout_seconds * 4)
            elif what == "500":
                return _error(500, 1, "An unknown error occurred")
        lead = self.leads.get(path)
        if lead is None:
            return _error(400, 100, f"Object with ID '{path}' does not exist")
        return JSONResponse(lead)

    def _form_leads(self, form_id: str, request: Request) -> Response:
        bounds = {f["operator"]: f["value"] for f in json.loads(request.query_params["filtering"])}
        found = sorted(
            (
                lead
                for lead in self.leads.values()
                if lead["form_id"] == form_id
                and bounds["GREATER_THAN"] < _unix(lead) < bounds["LESS_THAN"]
            ),
            key=_unix,
            reverse=True,
        )
        start = int(request.query_params.get("after", "0"))
        limit = int(request.query_params["limit"])
        page = found[start : start + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + limit)}}
        if start + limit < len(found):
            paging["next"] = f"{self.url}/{form_id}/leads?after={start + limit}"
        return JSONResponse({"data": page, "paging": paging})


def _unix(lead: dict[str, Any]) -> int:
    created = datetime.strptime(lead["created_time"], "%Y-%m-%dT%H:%M:%S%z")
    return int(created.timestamp())


@pytest.fixture(scope="session")
def graph_server() -> Iterator[FakeGraph]:
    graph = FakeGraph()
    server, thread, url = serve(graph.app)
    graph.url = f"{url}/{VERSION}"
    yield graph
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def graph(graph_server: FakeGraph) -> Iterator[FakeGraph]:
    """The Graph API, emptied, that Sen calls: a timeout is half a second and a retry comes
    50 ms later, three tries in all."""
    graph_server.reset()
    with settings_changed(
        meta_graph_url=graph_server.url,
        meta_timeout_seconds=0.5,
        meta_retry_seconds=0.05,
        meta_fetch_tries=3,
    ):
        yield graph_server


@dataclass
class Workspace:
    """A committed workspace of the test's own, its owner signed in, and a real worker to
    settle what its integrations receive."""

    http: httpx.AsyncClient
    owner: dict[str, Any]
    database_url: str
    redis_url: str

    @property
    def headers(self) -> dict[str, str]:
        return self.owner["headers"]  # type: ignore[no-any-return]

    @property
    def servers(self) -> tuple[str, str]:
        """The database and Redis a worker of its own uses."""
        return self.database_url, self.redis_url

    async def integration(self, **fields: Any) -> dict[str, Any]:
        """`make_integration` as the owner: Meta's unless `fields` say otherwise."""
        return await make_integration(self.http, self.headers, **fields)

    async def settle(self, posted: httpx.Response) -> Any:
        """The submissions a webhook's answer names, once the worker has settled them: one,
        or a list when the post delivered several (a loaded machine gets 30 s)."""
        assert posted.status_code == 200, posted.text
        sids = posted.json()["submission_ids"]
        wanted = sids[0] if len(sids) == 1 else sids
        return await settled(self.http, self.headers, wanted, *self.servers, seconds=30)

    async def lead(self, lead_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{API}/leads/{lead_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def workspace(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> Workspace:
    owner = await sign_up(committing_client, f"committing-integrations-{uuid.uuid4().hex[:8]}")
    return Workspace(committing_client, owner, database_url, redis_url)


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def leadgen(*leadgen_ids: str, form_id: str = FORM_ID) -> dict[str, Any]:
    """Meta's webhook body for new leads of a page, one `leadgen` change each."""
    changes = [
        {
            "field": "leadgen",
            "value": {"leadgen_id": i, "form_id": form_id, "page_id": PAGE_ID, "created_time": 1},
        }
        for i in leadgen_ids
    ]
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "changes": changes}]}


async def post_meta(
    http: httpx.AsyncClient,
    integration_id: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str = str(META_CONFIG["app_secret"]),
    signature: str | None = None,
) -> httpx.Response:
    """Meta's post: the body signed with the app secret (`X-Hub-Signature-256`), unless
    `signature` says otherwise (`""` sends none)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    sent = f"sha256={hex_hmac(secret, raw)}" if signature is None else signature
    if sent:
        headers["X-Hub-Signature-256"] = sent.encode()  # bytes: a forged one may be any
    return await http.post(f"{API}/intake/meta/{integration_id}", content=raw, headers=headers)


def google_lead(lead_id: str, key: str = GOOGLE_KEY, **columns: str) -> dict[str, Any]:
    """Google Ads' post for one lead form submission, its columns by id (`FULL_NAME`…)."""
    return {
        "lead_id": lead_id,
        "api_version": "1.0",
        "form_id": 40000000001,
        "campaign_id": 20000000001,
        "adgroup_id": 150000000001,
        "creative_id": 700000000001,
        "gcl_id": "EAIaIQobChMI-gclid",
        "google_key": key,
        "is_test": False,
        "user_column_data": [
            {"column_id": k, "column_name": k.replace("_", " ").title(), "string_value": v}
            for k, v in columns.items()
        ],
    }


async def post_signed(
    http: httpx.AsyncClient,
    provider: str,
    integration_id: str,
    body: Any,
    *,
    secret: str = SIGNING_SECRET,
    at: float | None = None,
    signed: bool = True,
) -> httpx.Response:
    """A TikTok or generic post: `<unix time>.<body>` signed with the secret at time `at`."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(time.time() if at is None else at))
    signature = hex_hmac(secret, f"{timestamp}.".encode() + raw)
    headers = {"Content-Type": "application/json"}
    if signed and provider == "tiktok":
        headers["TikTok-Signature"] = f"t={timestamp},s={signature}"
    elif signed:
        headers |= {"X-Sen-Timestamp": timestamp, "X-Sen-Signature": f"sha256={signature}"}
    return await http.post(
        f"{API}/intake/{provider}/{integration_id}", content=raw, headers=headers
    )
