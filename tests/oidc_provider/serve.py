"""Run the test identity provider: `python -m tests.oidc_provider.serve` with IDP_PORT, IDP_DATA,
IDP_CONTROL_TOKEN, IDP_CLIENT_ID, IDP_CLIENT_SECRET and IDP_REDIRECT_URIS in the environment.

Makes a fresh RS256 key and database, registers one confidential client that skips the consent
page, prints `ready` and serves on 127.0.0.1 until terminated.
"""

from __future__ import annotations

import os
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        sys.stderr.write(f"idp: {format % args}\n")


def _rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def main() -> None:
    os.environ["IDP_RSA_KEY"] = _rsa_key()
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django  # noqa: PLC0415 - the settings module reads the key made just above

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415 - after django.setup()
    from django.core.wsgi import get_wsgi_application  # noqa: PLC0415 - after django.setup()
    from oauth2_provider.models import get_application_model  # noqa: PLC0415 - after django.setup()

    call_command("migrate", run_syncdb=True, verbosity=0)
    application = get_application_model()
    application.objects.create(
        name="MediaPortal",
        client_id=os.environ["IDP_CLIENT_ID"],
        client_secret=os.environ["IDP_CLIENT_SECRET"],
        client_type=application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=os.environ["IDP_REDIRECT_URIS"],
        algorithm=application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    server = make_server(
        "127.0.0.1", int(os.environ["IDP_PORT"]), get_wsgi_application(), ThreadingServer, QuietHandler
    )
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
