"""The Python client integrators generate from the committed spec, against a real server: it
generates without warnings, and its calls and error parsing work."""

import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

from tests.conftest import LiveServer

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
CONFIG = SPEC.with_name("python-client.yaml")
BIN = Path(sys.executable).parent


def _generate(tmp_path: Path) -> tuple[str, ModuleType]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(SPEC), "--meta", "none",
         "--config", str(CONFIG), "--output-path", str(tmp_path / "sen_client")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        return done.stdout + done.stderr, importlib.import_module("sen_client")
    finally:
        sys.path.remove(str(tmp_path))


def test_generated_python_client_creates_lists_and_parses_problems(
    tmp_path: Path, live_server: LiveServer
) -> None:
    output, package = _generate(tmp_path)
    client_module = importlib.import_module("sen_client.client")
    create_lead = importlib.import_module("sen_client.api.leads.create_lead")
    list_leads = importlib.import_module("sen_client.api.leads.list_leads")
    models = importlib.import_module("sen_client.models")

    token = live_server.headers["Authorization"].removeprefix("Bearer ")
    client = client_module.AuthenticatedClient(base_url=live_server.url, token=token)
    marker = uuid.uuid4().hex[:8]  # the server's workspace is shared with other tests
    digits = f"{int(marker, 16) % 10**6:06d}"  # a phone no other lead there has (duplicate rules)
    made = create_lead.sync_detailed(
        client=client,
        body=models.LeadCreate(full_name=f"Nguyễn Văn Ánh {marker}", phone=f"0912 {digits}"),
    )
    page = list_leads.sync(client=client, q=f"nguyen van anh {marker}")
    refused = create_lead.sync(client=client, body=models.LeadCreate(full_name="A", status="nope"))

    assert "Warning" not in output, output
    assert package is not None
    assert made.status_code == 201
    assert made.parsed.phone_e164 == f"+84912{digits}"
    assert [lead.id for lead in page.data] == [made.parsed.id]
    assert isinstance(refused, models.Problem)
    assert refused.code == "validation_error"
    assert refused.errors[0].field == "status"
