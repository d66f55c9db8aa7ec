"""The workspace wall (DESIGN §4): composite keys for Citus, and row-level security that binds
the app's own queries even on a superuser connection."""

import re
import uuid

import asyncpg
import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import SYSTEM, Ctx
from app.core.db import libpq_url
from app.core.models import utcnow
from app.core.transaction import APP_ROLE
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookDelivery
from app.webhooks.service import EventMessage
from tests.conftest import World, as_role
from tests.factories import (
    make_account,
    make_activity,
    make_api_key,
    make_assignment_rule,
    make_campaign,
    make_contact,
    make_custom_field,
    make_deal,
    make_email,
    make_email_template,
    make_export,
    make_form,
    make_import,
    make_integration,
    make_lead,
    make_team,
    submit_form,
)

NON_TENANT = {"workspaces", "alembic_version"}


async def _enter(session: AsyncSession, workspace: uuid.UUID | str) -> None:
    """What the app does at the start of every transaction, on this superuser connection."""
    await as_role(session, APP_ROLE, workspace)


async def _catalog(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _tenant_tables(database_url: str) -> list[str]:
    rows = await _catalog(
        database_url,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )
    return [r["tablename"] for r in rows if r["tablename"] not in NON_TENANT]


class TestSchemaDistributesByWorkspace:
    async def test_every_tenant_table_has_workspace_first_in_its_primary_key(
        self, database_url: str
    ) -> None:
        rows = await _catalog(
            database_url,
            """SELECT c.conrelid::regclass::text AS tbl, a.attname AS first_col
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace""",
        )
        first = {r["tbl"]: r["first_col"] for r in rows}
        tables = await _tenant_tables(database_url)

        assert tables, "no tenant tables found"
        assert {t: first.get(t) for t in tables} == dict.fromkeys(tables, "workspace_id")

    async def test_every_unique_constraint_and_index_includes_workspace(
        self, database_url: str
    ) -> None:
        rows = await _catalog(
            database_url,
            """SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS idx,
                      pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
               WHERE i.indisunique AND t.relnamespace = 'public'::regnamespace""",
        )
        tables = set(await _tenant_tables(database_url))
        offenders = [
            r["idx"] for r in rows if r["tbl"] in tables and "workspace_id" not in r["def"]
        ]

        assert offenders == []

    async def test_every_reference_between_tenant_tables_includes_workspace(
        self, database_url: str
    ) -> None:
        rows = await _catalog(
            database_url,
            """SELECT c.conname, c.conrelid::regclass::text AS tbl,
                      c.confrelid::regclass::text AS target,
                      ARRAY(SELECT attname FROM pg_attribute
                            WHERE attrelid = c.conrelid AND attnum = ANY(c.conkey)) AS cols
               FROM pg_constraint c
               WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""",
        )
        tables = set(await _tenant_tables(database_url))
        between_tenants = [r for r in rows if r["tbl"] in tables and r["target"] in tables]
        offenders = [r["conname"] for r in between_tenants if "workspace_id" not in r["cols"]]

        assert between_tenants, "expected composite references (leads -> users, …)"
        assert offenders == []

    async def test_every_reference_has_an_index_on_its_referring_columns(
        self, database_url: str
    ) -> None:
        # Deleting or re-keying a referenced row (a workspace deleted, a merged lead purged)
        # looks up the rows referring to it: without an index led by the referring columns,
        # that is a scan of the workspace's rows of the referring table per row. A partial
        # index serves only if its condition is that the reference is set.
        rows = await _catalog(
            database_url,
            """SELECT c.conname, c.conkey::int[] AS cols,
                      ARRAY(SELECT i.indkey::text || '|' ||
                                   coalesce(pg_get_expr(i.indpred, i.indrelid), '')
                            FROM pg_index i WHERE i.indrelid = c.conrelid) AS indexes
               FROM pg_constraint c
               WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""",
        )
        offenders = sorted(
            r["conname"]
            for r in rows
            if r["conname"] not in _NEVER_LOOKED_UP
            and not any(_leads_with(index, r["cols"]) for index in r["indexes"])
        )

        assert rows, "expected references"
        assert offenders == []

    async def test_no_table_has_a_trigger(self, database_url: str) -> None:
        # Citus distributes no table with a trigger: what one did goes in a service.
        rows = await _catalog(
            database_url,
            """SELECT tgrelid::regclass::text AS tbl, tgname FROM pg_trigger t
               JOIN pg_class c ON c.oid = t.tgrelid
               WHERE NOT tgisinternal AND c.relnamespace = 'public'::regnamespace""",
        )

        assert [(r["tbl"], r["tgname"]) for r in rows] == []

    async def test_no_foreign_keys_go_round_in_a_cycle(self, database_url: str) -> None:
        # Citus distributes a table after the tables it references: a cycle has no first.
        rows = await _catalog(
            database_url,
            """SELECT DISTINCT conrelid::regclass::text AS tbl, confrelid::regclass::text AS target
               FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid
               AND connamespace = 'public'::regnamespace""",
        )
        references: dict[str, set[str]] = {}
        for r in rows:
            references.setdefault(r["tbl"], set()).add(r["target"])

        assert references.get("users") == {"workspaces", "teams"}, "expected users -> teams"
        assert _cycles(references) == []

    async def test_row_level_security_is_enabled_and_forced_on_every_tenant_table(
        self, database_url: str
    ) -> None:
        rows = await _catalog(
            database_url,
            """SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
               WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'""",
        )
        flags = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
        tables = await _tenant_tables(database_url)

        assert {t: flags[t] for t in tables} == dict.fromkeys(tables, (True, True))


def _cycles(references: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle of references found by a depth-first walk, as the tables along it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(table: str, path: list[str]) -> None:
        if table in path:
            found.append([*path[path.index(table) :], table])
            return
        if table in done:
            return
        for target in sorted(references.get(table, ())):
            walk(target, [*path, table])
        done.add(table)

    for table in sorted(references):
        walk(table, [])
    return found


class TestRowLevelSecurity:
    async def test_raw_sql_under_a_workspace_sees_none_of_anothers_rows(
        self, client: httpx.AsyncClient, session: AsyncSession, world: World
    ) -> None:
        for member in (world.owner, world.other_owner):
            response = await client.post(
                "/api/v1/leads", json={"full_name": "Lê Văn Tám"}, headers=member.headers
            )
            assert response.status_code == 201
        await session.commit()

        # The tests connect as a superuser: the app's role switch is what makes RLS bind.
        await _enter(session, world.owner.workspace_id)
        seen = {
            table: set(await session.scalars(text(f"SELECT DISTINCT workspace_id FROM {table}")))
            for table in ("leads", "lead_statuses", "users", "record_changes")
        }

        assert seen == {table: {world.owner.workspace_id} for table in seen}

    async def test_writing_into_another_workspace_is_refused(
        self, session: AsyncSession, world: World
    ) -> None:
        await _enter(session, world.owner.workspace_id)
        insert = text(
            "INSERT INTO teams (workspace_id, id, name, created_at, updated_at, version)"
            " VALUES (:w, :id, 'x', now(), now(), 1)"
        )

        with pytest.raises(DBAPIError, match="row-level security"):
            async with session.begin_nested():
                await session.execute(
                    insert, {"w": str(world.other_owner.workspace_id), "id": str(uuid.uuid4())}
                )

    async def test_no_workspace_setting_sees_nothing(self, session: AsyncSession) -> None:
        await _enter(session, "")

        assert await session.scalar(text("SELECT count(*) FROM users")) == 0


AUTOMATION = {
    "name": "B",
    "resource": "lead",
    "trigger": {"type": "event", "event": "lead.created"},
    "actions": [{"type": "add_tag", "tag": "b"}],
}


class TestOtherWorkspacesRecordsAre404:
    async def test_every_record_endpoint_answers_404_for_another_workspaces_id(
        self, client: httpx.AsyncClient, world: World, app: object, session: AsyncSession
    ) -> None:
        from app.automations.models import AutomationRun
        from app.core.db import enter_workspace
        from app.core.ids import new_id
        from app.notifications.models import Notification

        b = world.other_owner.headers
        statuses = (await client.get("/api/v1/lead-statuses", headers=b)).json()["data"]
        ids = {
            "lead_id": (await make_lead(client, b, full_name="B"))["id"],
            "user_id": str(world.other_owner.user_id),
            "team_id": (await make_team(client, b, name="B team"))["id"],
            "status_id": statuses[0]["id"],
            "key_id": (await make_api_key(client, b, name="b"))["id"],
            "field_id": (await make_custom_field(client, b, key="b", label="B"))["id"],
            "account_id": (await make_account(client, b, name="Công ty B"))["id"],
            "contact_id": (await make_contact(client, b, full_name="Trần B"))["id"],
            "deal_id": (await make_deal(client, b, name="Hợp đồng B"))["id"],
            "assignment_rule_id": (await make_assignment_rule(client, b, name="B"))["id"],
            "form_id": (form := await make_form(client, b, name="B"))["id"],
            "submission_id": (await submit_form(client, form["key"]))["submission_id"],
            "campaign_id": (await make_campaign(client, b, key="b"))["id"],
            "integration_id": (await make_integration(client, b, name="B"))["id"],
            "rule_id": (await client.get("/api/v1/duplicate-rules", headers=b)).json()["data"][0][
                "id"
            ],
            "scan_id": (
                await client.post("/api/v1/duplicates/scans", json={"resource": "lead"}, headers=b)
            ).json()["id"],
            "export_id": (await make_export(client, b, resource="lead"))["id"],
            "import_id": (await make_import(client, b))["id"],
            "automation_id": (
                await client.post("/api/v1/automations", json=AUTOMATION, headers=b)
            ).json()["id"],
        }
        pipeline = (await client.get("/api/v1/pipelines", headers=b)).json()["data"][0]
        ids |= {"pipeline_id": pipeline["id"], "stage_id": pipeline["stages"][1]["id"]}
        activity = await make_activity(
            client, b, type="note", subject="B", related_id=ids["lead_id"]
        )
        ids["activity_id"] = activity["id"]
        ids["template_id"] = (await make_email_template(client, b))["id"]
        ids["email_id"] = (await make_email(client, b, contact_id=ids["contact_id"]))["id"]
        # Notifications are written by the worker: B's owner gets one here, as a job would.
        await enter_workspace(session, world.other_owner.workspace_id)
        notification = Notification(
            workspace_id=world.other_owner.workspace_id, id=new_id(),
            user_id=world.other_owner.user_id, kind="reminder", title="B",
        )  # fmt: skip
        session.add(notification)
        await session.flush()
        ids["notification_id"] = str(notification.id)
        run = AutomationRun(
            workspace_id=world.other_owner.workspace_id, id=new_id(),
            automation_id=uuid.UUID(ids["automation_id"]), resource="lead",
            record_id=uuid.UUID(ids["lead_id"]), occurrence="test", trigger={}, status="failed",
        )  # fmt: skip
        session.add(run)
        await session.flush()
        ids["run_id"] = str(run.id)
        # A webhook's deliveries are made by the events dispatcher: B's webhook gets one here.
        webhook = await client.post(
            "/api/v1/webhooks",
            json={"url": "https://hooks.doi-thu.vn/b", "events": ["*"]},
            headers=b,
        )
        ids["webhook_id"] = webhook.json()["id"]
        b_ctx = Ctx(session=session, actor=SYSTEM, workspace_id=world.other_owner.workspace_id)
        await enter_workspace(session, world.other_owner.workspace_id)
        event = EventMessage(new_id(), "lead.created", "lead", uuid.UUID(ids["lead_id"]), utcnow())
        await webhooks_service.deliver_events(b_ctx, [event])
        ids["delivery_id"] = str(
            await session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.workspace_id == world.other_owner.workspace_id,
                    WebhookDelivery.webhook_id == uuid.UUID(ids["webhook_id"]),
                )
            )
        )
        # Valid bodies, so the answer is about the record, not the payload (a body-less POST
        # ignores it).
        posted = {
            "accounts": {"account_id": ids["account_id"]},
            "stage": {"stage_id": ids["stage_id"]},
            "stages": {"name": "B", "probability": 10, "kind": "open"},
            "backfill": {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"},
            "test": {"record_id": ids["lead_id"]},
            "preview": {"record_type": "contact", "record_id": ids["contact_id"]},
        }
        checked = []
        for path, operations in app.openapi()["paths"].items():  # type: ignore[attr-defined]
            params = re.findall(r"{(\w+)}", path)
            public_webhook = path.startswith("/api/v1/intake/") and params == ["integration_id"]
            if params in (["form_key"], ["token"]) or public_webhook:
                continue  # public by design: the key or signature, not the caller, names it
            # A new resource's endpoints are checked too: its id must be made above.
            assert set(params) <= ids.keys(), f"{path}: add a record of B for {params}"
            if not params:
                continue
            for method in sorted(m.upper() for m in operations):
                url = path.format(**{p: ids[p] for p in params})
                body = {"PATCH": {}, "POST": posted.get(path.rsplit("/", 1)[-1])}.get(method)
                response = await client.request(method, url, json=body, headers=world.owner.headers)
                checked.append((method, path))
                assert response.status_code == 404, (method, url, response.text)

        assert len(checked) >= 12


class TestEveryTransactionEntersItsWorkspace:
    async def test_pooled_sessions_run_as_the_app_role_and_never_inherit_a_setting(
        self, database_url: str, world: World
    ) -> None:
        from app.core.db import make_engine, make_sessionmaker, system_session, workspace_session

        engine = make_engine(database_url, pool_size=1, max_overflow=0)  # one shared connection
        maker = make_sessionmaker(engine)
        probe = text("SELECT current_user, current_setting('sen.workspace_id', true)")
        try:
            async with workspace_session(maker, world.owner.workspace_id) as session:
                as_a = (await session.execute(probe)).one()
                await session.commit()
            async with system_session(maker) as session:
                as_system = (await session.execute(probe)).one()
                await session.commit()
            async with workspace_session(maker, world.other_owner.workspace_id) as session:
                as_b = (await session.execute(probe)).one()
        finally:
            await engine.dispose()

        assert tuple(as_a) == ("sen_app", str(world.owner.workspace_id))
        assert as_system[0] != "sen_app"
        assert as_system[1] in (None, "")
        assert tuple(as_b) == ("sen_app", str(world.other_owner.workspace_id))

    async def test_statements_sent_straight_to_the_driver_run_inside_the_workspace(
        self, database_url: str, world: World
    ) -> None:
        # Lists, inserts and the caller look-up skip SQLAlchemy's cursor, which is what sends
        # BEGIN: they must still run in the request's transaction, behind the workspace wall.
        from sqlalchemy import func, select

        from app.core import sql
        from app.core.context import Actor, Ctx, Role
        from app.core.db import make_engine, make_sessionmaker, workspace_session
        from app.core.driver import driver_connection
        from app.users.models import User

        engine = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with workspace_session(
                make_sessionmaker(engine), world.owner.workspace_id
            ) as session:
                ctx = Ctx(
                    session=session,
                    actor=Actor(user_id=world.owner.user_id, role=Role.owner),
                    workspace_id=world.owner.workspace_id,
                )
                probe = select(func.current_user(), func.current_setting("sen.workspace_id", True))
                (first,) = await sql.fetch(ctx, probe)
                # Both workspaces have users; the app role sees its own workspace's only.
                workspaces_seen = await sql.fetch(ctx, select(User.workspace_id).distinct())
                in_transaction = (await driver_connection(session)).is_in_transaction()
        finally:
            await engine.dispose()

        assert tuple(first) == ("sen_app", str(world.owner.workspace_id))
        assert in_transaction
        assert [row[0] for row in workspaces_seen] == [world.owner.workspace_id]


# A user is never deleted (a member who leaves is deactivated and keeps their records), so no
# statement looks for the records a user owns regardless of deletion; the live ones have their
# list index (`ix_*_owner_recent`).
_NEVER_LOOKED_UP = {
    f"fk_{table}_workspace_id_owner_id_users"
    for table in ("accounts", "activities", "contacts", "deals", "leads")
}


def _leads_with(index: str, columns: list[int]) -> bool:
    """Whether the index ("1 4 2|its condition": `pg_index.indkey`, then `indpred`) leads with
    `columns`, in any order, and holds every row that has them set."""
    keys, condition = index.split("|", 1)
    leads = {int(n) for n in keys.split()[: len(columns)]} == set(columns)
    return leads and re.fullmatch(r"(\(?\w+ IS NOT NULL\)?)?", condition) is not None
