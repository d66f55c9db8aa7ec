"""Where a webhook may go: the address rules, a receiver's URL as saved, and every attempt's
check of the addresses its host resolves to, just before connecting to one of them. A stub
resolver stands in for DNS; the only packets sent go to 127.0.0.1."""

import ipaddress
import json

import httpx
import pytest

from app.webhooks.addresses import refusal, url_errors
from app.webhooks.sending import new_secret, post, webhook_client
from tests.webhooks.receivers import Listener, Receiver


class TestRules:
    @pytest.mark.parametrize(
        ("address", "kind"),
        [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.4.4", "private"),
            ("192.168.1.10", "private"),
            ("100.64.0.1", "CGNAT"),
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("169.254.10.10", "link-local"),
            ("fe80::1", "link-local"),
            ("fd12:3456::1", "ULA"),
            ("224.0.0.251", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
            ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ],
    )
    def test_non_public_addresses_are_refused_with_their_kind(
        self, address: str, kind: str
    ) -> None:
        reason = refusal(ipaddress.ip_address(address))

        assert reason is not None
        assert kind in reason

    @pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
    def test_public_addresses_pass(self, address: str) -> None:
        assert refusal(ipaddress.ip_address(address)) is None


class TestUrlAsSaved:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://10.0.0.5/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:9000/hook",
            "http://api.localhost/hook",
        ],
    )
    def test_a_literal_private_address_is_refused_unless_allowed(self, url: str) -> None:
        refused = url_errors(url, allow_private=False)

        assert refused
        assert "SEN_WEBHOOK_ALLOW_PRIVATE" in refused[0]
        assert url_errors(url, allow_private=True) == []

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://hooks.minhphat.vn/x",
            "file:///etc/passwd",
            "hooks.minhphat.vn",
            "http://",
            "http://0177.0.0.1/",  # octal loopback: no URL httpx would send to
        ],
    )
    def test_only_http_and_https_urls_with_a_host(self, url: str) -> None:
        assert url_errors(url, allow_private=True) != []

    def test_credentials_in_the_url_are_refused(self) -> None:
        assert url_errors("https://u:p@hooks.minhphat.vn/x", allow_private=False) != []

    def test_a_name_is_left_to_each_delivery(self) -> None:
        assert url_errors("https://hooks.minhphat.vn/sen", allow_private=False) == []


def stub(*addresses: str):  # type: ignore[no-untyped-def]
    """A resolver that answers `addresses` for any name, and notes what it was asked."""
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return list(addresses)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


async def _post(  # type: ignore[no-untyped-def]
    url: str,
    *,
    allow_private: bool,
    resolve=None,
    secret: str | None = None,
    time_limit: float = 2,
    max_response_bytes: int = 1024,
):
    async with webhook_client() as http:
        extra = {"resolve": resolve} if resolve is not None else {}
        return await post(
            http,
            url,
            secret=secret or new_secret(),
            message_id="msg_thu",
            body=json.dumps({"type": "lead.created"}).encode(),
            allow_private=allow_private,
            time_limit=time_limit,
            max_response_bytes=max_response_bytes,
            **extra,
        )


class TestEachAttemptChecksWhereItGoes:
    async def test_with_the_setting_off_loopback_is_refused_before_any_connection(
        self, listener: Listener
    ) -> None:
        attempt = await _post(f"http://127.0.0.1:{listener.port}/hook", allow_private=False)

        assert attempt.refused
        assert attempt.status_code is None
        assert "127.0.0.1 is a loopback address" in (attempt.error or "")
        assert listener.connections == 0

    @pytest.mark.parametrize(
        "resolved",
        [
            ["10.0.0.5"],
            ["169.254.169.254"],
            ["::ffff:127.0.0.1"],
            ["fd00:ec2::254"],
            ["93.184.216.34", "10.0.0.5"],  # one bad address refuses the name
        ],
    )
    async def test_a_name_resolving_to_a_refused_address_is_not_sent(
        self, resolved: list[str]
    ) -> None:
        resolve = stub(*resolved)

        attempt = await _post(
            "https://hooks.minhphat.test/sen", allow_private=False, resolve=resolve
        )

        assert attempt.refused
        assert "hooks.minhphat.test resolves to" in (attempt.error or "")
        assert resolve.asked == [("hooks.minhphat.test", 443)]

    async def test_it_connects_to_the_address_it_checked_with_the_names_host_header(
        self, receiver: Receiver
    ) -> None:
        port = httpx.URL(receiver.url).port
        resolve = stub("127.0.0.1")  # only this resolver knows the name
        receiver.secret = new_secret()

        attempt = await _post(
            f"http://hooks.minhphat.test:{port}/hooks/sen",
            allow_private=True,
            resolve=resolve,
            secret=receiver.secret,
        )

        assert (attempt.status_code, attempt.error) == (200, None)
        (seen,) = receiver.received
        assert seen.headers["host"] == f"hooks.minhphat.test:{port}"
        assert seen.verified

    async def test_a_name_that_does_not_resolve_is_a_failed_attempt(self) -> None:
        async def nowhere(host: str, port: int) -> list[str]:
            raise OSError("Name or service not known")

        attempt = await _post("https://khong-ton-tai.test/x", allow_private=False, resolve=nowhere)

        assert attempt.status_code is None
        assert not attempt.refused
        assert "does not resolve" in (attempt.error or "")

    async def test_a_redirect_is_not_followed(self, receiver: Receiver) -> None:
        receiver.reset(307)
        receiver.secret = new_secret()

        attempt = await _post(receiver.url, allow_private=True, secret=receiver.secret)

        assert attempt.status_code == 307
        assert not attempt.succeeded
        assert len(receiver.received) == 1

    async def test_a_receiver_slower_than_the_time_limit_is_a_failed_attempt(
        self, receiver: Receiver
    ) -> None:
        base = receiver.url.removesuffix("/hooks/sen")

        attempt = await _post(f"{base}/slow?seconds=5", allow_private=True, time_limit=0.3)

        assert attempt.status_code is None
        assert attempt.error == "no answer within 0.3 s"
        assert attempt.latency_ms < 2000

    async def test_only_the_start_of_a_big_answer_is_read(self, receiver: Receiver) -> None:
        base = receiver.url.removesuffix("/hooks/sen")

        attempt = await _post(
            f"{base}/big?bytes=5000000", allow_private=True, max_response_bytes=1000
        )

        assert attempt.status_code == 200
        assert attempt.response_body == "x" * 1000

    @pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f000001"])
    async def test_loopback_spelled_as_a_name_or_number_is_refused_by_the_real_resolver(
        self, listener: Listener, host: str
    ) -> None:
        attempt = await _post(f"http://{host}:{listener.port}/hook", allow_private=False)

        assert attempt.refused
        assert "resolves to 127.0.0.1, which is a loopback address" in (attempt.error or "")
        assert listener.connections == 0
