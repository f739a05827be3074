"""With MICROSOFT_APP_ID set, every Teams request's JWT is validated for real.

botbuilder fetches signing keys from OpenID metadata; MICROSOFT_OPENID_METADATA_URL points it
at a local endpoint (on its own thread: botbuilder fetches with blocking ``requests``) that
publishes one RSA key, so tokens signed with it pass and anything else is forged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.host.runtime import Runtime
from adapters.host.server import TEAMS, build_app
from tests.conftest import all_ideas
from tests.fake_connector import FakeConnector
from tests.teams_harness import TENANT, TeamsDriver, teams_settings

APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
ISSUER = "https://api.botframework.com"
TRUSTED = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FORGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def openid_url() -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(TRUSTED.public_key()))
    jwk.update(kid="trusted-key", use="sig", endorsements=["msteams"])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            port = self.server.server_address[1]
            body = ({"issuer": ISSUER, "jwks_uri": f"http://127.0.0.1:{port}/keys"}
                    if self.path.startswith("/openid") else {"keys": [jwk]})
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/openid"
    finally:
        server.shutdown()


def token(key: Any, kid: str, service_url: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": APP_ID, "exp": now + 600, "nbf": now - 10,
               "serviceurl": service_url, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def secured(database_url: str, fake_connector: FakeConnector,
                  openid_url: str) -> AsyncIterator[TeamsDriver]:
    settings = teams_settings(database_url, microsoft_app_id=APP_ID,
                              microsoft_app_password="not-used-in-this-test",
                              microsoft_openid_metadata_url=openid_url)
    runtime = Runtime.create(settings)
    app = build_app(runtime)
    # Replies would need a token from Entra ID (no network here): inbound only in this test.
    app[TEAMS].deliverer.start = lambda: None
    async with TestClient(TestServer(app)) as client:
        yield TeamsDriver(client, fake_connector, runtime)


@pytest.mark.parametrize("header", [
    None,
    "Bearer x",
    "Bearer not.a.jwt",
    "Basic dXNlcjpwYXNz",
    "Bearer ",
])
async def test_missing_or_malformed_tokens_are_401(secured: TeamsDriver,
                                                  header: str | None) -> None:
    activity = secured._activity("message_activity", text="/kaizen standard: a; problem: b; "
                                 "proposal: c")
    headers = {"Authorization": header} if header is not None else {}
    assert await secured.post(activity, headers=headers) == 401
    assert await all_ideas(secured.runtime) == []


async def test_forged_and_wrong_tokens_are_401(secured: TeamsDriver) -> None:
    activity = secured._activity("message_activity", text="/kaizen standard: a; problem: b; "
                                 "proposal: c")
    url = activity["serviceUrl"]
    forged = [
        token(FORGER, "trusted-key", url),  # right kid, wrong key
        token(FORGER, "forger-key", url),  # unknown key
        token(TRUSTED, "trusted-key", url, aud="someone-else"),  # another bot's token
        token(TRUSTED, "trusted-key", "https://elsewhere.example/"),  # other serviceUrl
        token(TRUSTED, "trusted-key", url, exp=int(time.time()) - 3600),  # expired
    ]
    for bad in forged:
        assert await secured.post(activity, headers={"Authorization": f"Bearer {bad}"}) == 401
    assert await all_ideas(secured.runtime) == []


async def test_a_valid_token_is_accepted(secured: TeamsDriver) -> None:
    activity = secured._activity("message_activity", text="/kaizen standard: a; problem: b; "
                                 "proposal: c")
    good = token(TRUSTED, "trusted-key", activity["serviceUrl"])
    assert await secured.post(activity, headers={"Authorization": f"Bearer {good}"}) == 201
    [idea] = await all_ideas(secured.runtime)
    assert idea.proposal == "c"


async def test_a_token_without_expiry_is_401(secured: TeamsDriver) -> None:
    """PyJWT checks ``exp`` only when it is there: such a token would be valid forever."""
    activity = secured._activity("message_activity", text="/kaizen standard: a; problem: b; "
                                 "proposal: c")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": APP_ID, "nbf": now - 10,
              "serviceurl": activity["serviceUrl"]}
    forever = jwt.encode(claims, TRUSTED, algorithm="RS256", headers={"kid": "trusted-key"})
    assert await secured.post(activity, headers={"Authorization": f"Bearer {forever}"}) == 401
    assert await all_ideas(secured.runtime) == []


@pytest.fixture(params=["app_tenant", "tenant_list"])
async def single_tenant(request: pytest.FixtureRequest, database_url: str,
                        fake_connector: FakeConnector,
                        openid_url: str) -> AsyncIterator[TeamsDriver]:
    tenants = ({"microsoft_app_tenant_id": TENANT} if request.param == "app_tenant" else
               {"teams_tenants": f"00000000-0000-0000-0000-00000000000a, {TENANT.upper()}"})
    settings = teams_settings(database_url, microsoft_app_id=APP_ID,
                              microsoft_app_password="not-used-in-this-test",
                              microsoft_openid_metadata_url=openid_url, **tenants)
    runtime = Runtime.create(settings)
    app = build_app(runtime)
    app[TEAMS].deliverer.start = lambda: None
    async with TestClient(TestServer(app)) as client:
        yield TeamsDriver(client, fake_connector, runtime)


async def test_a_single_tenant_bot_refuses_other_tenants(single_tenant: TeamsDriver) -> None:
    text = "/kaizen standard: a; problem: b; proposal: c"
    foreign = single_tenant._activity("message_activity", text=text)
    foreign["channelData"] = {"tenant": {"id": "11111111-2222-3333-4444-555555555555"}}
    no_tenant = single_tenant._activity("message_activity", text=text)
    no_tenant.pop("channelData", None)
    no_tenant["conversation"].pop("tenantId", None)
    for activity in (foreign, no_tenant):
        good = token(TRUSTED, "trusted-key", activity["serviceUrl"])
        assert await single_tenant.post(
            activity, headers={"Authorization": f"Bearer {good}"}) == 403
    async with single_tenant.runtime.sessions() as session:
        from sqlalchemy import func, select

        from storage.models import PersonRow, ProcessedEventRow
        assert await session.scalar(select(func.count()).select_from(PersonRow)) == 0
        assert await session.scalar(select(func.count()).select_from(ProcessedEventRow)) == 0
    assert await all_ideas(single_tenant.runtime) == []
    # Its own tenant is served.
    own = single_tenant._activity("message_activity", text=text)
    good = token(TRUSTED, "trusted-key", own["serviceUrl"])
    assert await single_tenant.post(own, headers={"Authorization": f"Bearer {good}"}) == 201
    assert len(await all_ideas(single_tenant.runtime)) == 1
