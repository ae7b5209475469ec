"""Start and drive the test identity provider process from a test."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

from tests.e2e.web import free_port


@dataclass
class Provider:
    url: str  # the issuer: what OIDC_SERVER_URL names
    client_id: str
    client_secret: str
    control_token: str
    proc: subprocess.Popen
    log: Path

    def user_set(
        self, username: str, *, password: str, email: str, email_verified: bool = True, groups: list[str] = ()
    ) -> None:
        """Create or change a user at the provider, as its administrator would."""
        response = requests.post(
            f"{self.origin}/control/users/",
            json={
                "username": username,
                "password": password,
                "email": email,
                "email_verified": email_verified,
                "groups": list(groups),
            },
            headers={"Authorization": f"Bearer {self.control_token}"},
            timeout=10,
        )
        response.raise_for_status()

    def redirect_uri_add(self, uri: str) -> None:
        response = requests.post(
            f"{self.origin}/control/redirect-uris/",
            json={"uri": uri},
            headers={"Authorization": f"Bearer {self.control_token}"},
            timeout=10,
        )
        response.raise_for_status()

    @property
    def origin(self) -> str:
        return self.url.removesuffix("/o")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


@contextlib.contextmanager
def oidc_provider(tmp: Path, *, redirect_uris: list[str]) -> Iterator[Provider]:
    """The provider on a free loopback port, with a fresh key, database and client."""
    port = free_port()
    client_id, client_secret = f"mediaportal-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    control_token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "IDP_PORT": str(port),
        "IDP_DATA": str(tmp),
        "IDP_CONTROL_TOKEN": control_token,
        "IDP_CLIENT_ID": client_id,
        "IDP_CLIENT_SECRET": client_secret,
        "IDP_REDIRECT_URIS": " ".join(redirect_uris),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = tmp / "idp.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    provider = Provider(f"http://127.0.0.1:{port}/o", client_id, client_secret, control_token, proc, log)
    try:
        _wait_until_ready(provider)
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_until_ready(provider: Provider, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if provider.proc.poll() is not None:
            raise RuntimeError(f"The identity provider exited:\n{provider.output()}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=2).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"The identity provider did not start within {timeout} s:\n{provider.output()}")
