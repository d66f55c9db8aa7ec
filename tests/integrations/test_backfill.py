"""A backfill reads a Meta integration's lead forms over a date range from the Graph API (the
local one) and stores what its webhook missed, through the same pipeline: once each, however
often it is run, beside what the webhook did deliver."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.integrations import meta
from app.integrations import service as integrations_service
from tests.conftest import World
from tests.factories import API, META_CONFIG, make_integration
from tests.intake_harness import leads, settled, statuses
from tests.integrations.platforms import FakeGraph, Workspace, leadgen, post_meta

pytestmark = pytest.mark.usefixtures("empty_queue")
START = datetime(2026, 12, 1, tzinfo=UTC)


def window(days: int = 2) -> dict[str, str]:
    return {"from": START.isoformat(), "to": (START + timedelta(days=days)).isoformat()}


async def backfill(
    http: httpx.AsyncClient, headers: dict[str, str], integration_id: str, **body: object
) -> httpx.Response:
    return await http.post(
        f"{API}/integrations/{integration_id}/backfill", json=window() | body, headers=headers
    )


class TestBackfill:
    async def test_missed_leads_in_the_range_become_leads_once_beside_the_delivered_ones(
        self, workspace: Workspace, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(meta, "PAGE_SIZE", 2)  # so the range takes several pages
        http, headers = workspace.http, workspace.headers
        integration = await workspace.integration()
        inside = [
            graph.add_lead(created=START + timedelta(hours=h), full_name=f"Khách {h}",
                           phone_number=f"0912 000 {h:03d}")
            for h in (0, 5, 20, 30, 47)
        ]  # fmt: skip
        graph.add_lead(created=START - timedelta(seconds=1), full_name="Trước")
        graph.add_lead(created=START + timedelta(days=2), full_name="Sau")
        graph.add_lead(created=START + timedelta(hours=1), form_id="555999", full_name="Khác")
        delivered = await post_meta(http, integration["id"], leadgen(inside[0]))

        first = await backfill(http, headers, integration["id"])
        again = await backfill(http, headers, integration["id"])
        found = await statuses(http, headers)
        await settled(http, headers, [s["id"] for s in found], *workspace.servers)

        assert first.status_code == 200, first.text
        assert first.json() == {"fetched": 5, "stored": 4, "redelivered": 1, "truncated": False}
        assert again.json() == {"fetched": 5, "stored": 0, "redelivered": 5, "truncated": False}
        assert sorted(s["external_id"] for s in found) == sorted(inside)
        assert delivered.json()["submission_ids"][0] in [s["id"] for s in found]
        names = sorted(lead["full_name"] for lead in await leads(http, headers))
        assert names == ["Khách 0", "Khách 20", "Khách 30", "Khách 47", "Khách 5"]
        # What a backfill read comes with its answers: only the webhook's lead was fetched.
        assert [graph.fetches_of(lead_id) for lead_id in inside] == [1, 0, 0, 0, 0]

    async def test_more_leads_than_one_backfill_reads_says_truncated(
        self,
        client: httpx.AsyncClient,
        world: World,
        graph: FakeGraph,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(integrations_service, "MAX_BACKFILL_LEADS", 3)
        integration = await make_integration(client, world.admin.headers)
        for h in range(5):
            graph.add_lead(created=START + timedelta(hours=h), full_name=f"Khách {h}")

        response = await backfill(client, world.admin.headers, integration["id"])

        assert response.json() == {"fetched": 3, "stored": 3, "redelivered": 0, "truncated": True}

    async def test_graph_down_is_a_503_to_retry_and_a_refused_token_a_409(
        self, client: httpx.AsyncClient, world: World, graph: FakeGraph
    ) -> None:
        integration = await make_integration(client, world.admin.headers)
        graph.add_lead(created=START, full_name="Khách")

        graph.down = True
        down = await backfill(client, world.admin.headers, integration["id"])
        graph.down = False
        graph.token = "EAAG-another-token"
        refused = await backfill(client, world.admin.headers, integration["id"])

        assert (down.status_code, down.json()["code"]) == (503, "graph_unavailable")
        assert int(down.headers["retry-after"]) >= 1
        assert (refused.status_code, refused.json()["code"]) == (409, "graph_refused")
        assert "190" in refused.json()["detail"]
        assert str(META_CONFIG["page_access_token"]) not in refused.text
        assert await statuses(client, world.admin.headers) == []

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"to": START.isoformat()}, "to"),
            ({"to": (START + timedelta(days=91)).isoformat()}, "to"),
            ({"from": "2026-12-01"}, "from"),
        ],
    )
    async def test_a_range_backwards_too_long_or_malformed_is_a_422(
        self, client: httpx.AsyncClient, world: World, body: dict[str, str], field: str
    ) -> None:
        integration = await make_integration(client, world.admin.headers)

        response = await backfill(client, world.admin.headers, integration["id"], **body)

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]

    async def test_without_forms_to_read_it_is_a_422_and_only_meta_backfills(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        no_forms = await make_integration(
            client, world.admin.headers, config={**META_CONFIG, "form_ids": []}
        )
        google = await make_integration(
            client, world.admin.headers, provider="google", config={"google_key": "k-12345678"}
        )

        unnamed = await backfill(client, world.admin.headers, no_forms["id"])
        not_meta = await backfill(client, world.admin.headers, google["id"])
        by_sales = await backfill(client, world.sales.headers, no_forms["id"])

        assert [e["field"] for e in unnamed.json()["errors"]] == ["form_ids"]
        assert (not_meta.status_code, not_meta.json()["code"]) == (409, "backfill_unsupported")
        assert by_sales.status_code == 403
