"""The birthday email, as an admin sets it up: the seeded workflow switched on, its template
written, the mail server set — then a year goes by on the clock (a setting the test moves) and
a real aiosmtpd server on 127.0.0.1 receives each contact's email on the day, once, rendered with
the contact's Vietnamese name. 10,000 contacts, imported from a spreadsheet, birthdays spread
over the year, 29 February included."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.automations import runs
from app.core.jobs import job_context
from tests.conftest import settings_changed, sign_up
from tests.emails.conftest import SmtpServer
from tests.factories import API
from tests.imports.helpers import imported
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")

CONTACTS = 10_000
YEAR = 2027  # no 29 February: those birthdays come on the 28th
HCM = timedelta(hours=7)  # Asia/Ho_Chi_Minh, the workspace's zone
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Hữu", "Ngọc", "Minh", "Thanh", "Đức", "Thu"]
GIVEN = ["Ánh", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hùng", "Lan", "Mai", "Phương", "Quân",
         "Sơn", "Thảo", "Tú", "Yến"]  # fmt: skip


def _every_day_of_a_leap_year() -> list[date]:
    first = date(2000, 1, 1)
    return [first + timedelta(days=n) for n in range(366)]


def _contacts() -> Iterator[tuple[str, str, date]]:
    """Name, address and birthday of each contact, the birthdays round the calendar (each
    born in a leap year, so 29 February is a birthday like any other)."""
    days = _every_day_of_a_leap_year()
    for i in range(CONTACTS):
        name = f"{SURNAMES[i % 10]} {MIDDLE[i // 10 % 8]} {GIVEN[i // 80 % 15]}"
        day = days[i * 7919 % 366]  # a stride prime to 366: every day, shuffled
        yield name, f"khach{i}@khach.vn", day.replace(year=1960 + 4 * (i % 12))


def _csv(contacts: list[tuple[str, str, date]]) -> bytes:
    lines = ["Họ và tên,Email,Ngày sinh"]
    lines += [f"{name},{email},{born.strftime('%d/%m/%Y')}" for name, email, born in contacts]
    return "\r\n".join(lines).encode()


def _wished_on(born: date) -> date:
    if (born.month, born.day) == (2, 29):
        return date(YEAR, 2, 28)
    return born.replace(year=YEAR)


def _clock(day: date, hour: int, minute: int) -> datetime:
    """That time in Vietnam, as the clock setting (UTC)."""
    return datetime(day.year, day.month, day.day, hour, minute, 30, tzinfo=UTC) - HCM


async def _seeded_birthday_workflow(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, Any]:
    listed = await http.get(f"{API}/automations", headers=headers, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    (found,) = [a for a in listed.json()["data"] if a["name"] == "Chúc mừng sinh nhật"]
    assert found["active"] is False  # a workspace starts with it switched off
    return dict(found)


async def _arrived(smtp: SmtpServer, count: int) -> bool:
    async def enough() -> bool:
        return len(smtp.messages()) >= count

    return await eventually(enough, seconds=60, every=0.02)


async def test_every_contact_gets_one_birthday_email_on_the_day_and_none_on_another(
    committing_client: httpx.AsyncClient,
    smtp_server: SmtpServer,
    maker: async_sessionmaker[AsyncSession],
    queue: ArqRedis,
    database_url: str,
    redis_url: str,
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-automations-birthdays")
    headers, workspace = owner["headers"], uuid.UUID(owner["workspace_id"])
    mail = smtp_server.settings(per_minute=10_000)
    assert (await http.put(f"{API}/mail-settings", json=mail, headers=headers)).status_code == 200
    wish = await _seeded_birthday_workflow(http, headers)
    (send,) = wish["actions"]
    assert send["type"] == "send_email"
    written = await http.patch(
        f"{API}/email-templates/{send['template_id']}",
        json={"subject": "Sen chúc mừng sinh nhật {{ contact.full_name }}!"},
        headers=headers,
    )
    assert written.status_code == 200, written.text
    contacts = list(_contacts())
    done = await imported(
        http, headers, _csv(contacts), database_url, redis_url,
        filename="khach-hang.csv", resource="contact", dedupe_policy="create",
    )  # fmt: skip
    assert (done["status"], done["created"]) == ("completed", CONTACTS), done
    with settings_changed(clock_at=_clock(date(YEAR - 1, 12, 31), 12, 0)):
        on = await http.patch(
            f"{API}/automations/{wish['id']}", json={"active": True}, headers=headers
        )
    assert on.status_code == 200, on.text
    assert on.json()["next_fire_at"] == "2027-01-01T01:00:00Z"  # 08:00 in Vietnam

    expected: dict[date, Counter[str]] = {}
    for _, email, born in contacts:
        expected.setdefault(_wished_on(born), Counter())[email] += 1
    arrived_on: dict[date, list[Any]] = {}

    async def look_at_the_clock() -> None:
        """What the worker's cron job does each minute, for this workspace."""
        async with job_context(maker, workspace, queue=queue) as ctx:
            await runs.fire_due(ctx)

    async with running_worker(database_url, redis_url, poll_delay=0.005):
        day, seen = date(YEAR, 1, 1), 0
        while day.year == YEAR:
            with settings_changed(clock_at=_clock(day, 7, 59)):
                await look_at_the_clock()  # before its time: nothing
            with settings_changed(clock_at=_clock(day, 8, 0)):
                await look_at_the_clock()
                await look_at_the_clock()  # a second look at the clock adds nothing
                due = seen + sum(expected.get(day, Counter()).values())
                assert await _arrived(smtp_server, due), (day, len(smtp_server.messages()), due)
            arrived_on[day] = smtp_server.messages()[seen:]
            seen, day = due, day + timedelta(days=1)
        await asyncio.sleep(1)  # anything sent twice or late would have come by now
    assert len(smtp_server.messages()) == CONTACTS

    by_address = {email: name for name, email, _ in contacts}
    for day, received in arrived_on.items():
        assert Counter(r.recipients[0] for r in received) == expected.get(day, Counter()), day
        for message in (r.message for r in received):
            address = message["To"].addresses[0]
            assert address.display_name == by_address[address.addr_spec]
            assert message["Subject"] == f"Sen chúc mừng sinh nhật {address.display_name}!"
    leap_born = {email for _, email, born in contacts if (born.month, born.day) == (2, 29)}
    assert leap_born  # there are some, and their wishes came on 28 February
    assert leap_born <= {r.recipients[0] for r in arrived_on[date(YEAR, 2, 28)]}
