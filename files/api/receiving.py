"""How the API receives an upload's body: who is asking, whether they may upload here and
how much they may send are decided before a byte of it is read."""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.drainage import set_override
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from accounts.authentication import ApiTokenAuthentication
from files.uploads import HashedUpload, HashingUploadHandler, declared_too_large
from mediaportal.exceptions import PayloadTooLarge, ValidationFailed


class UploadSessionAuthentication(SessionAuthentication):
    """Session authentication whose CSRF check waits for `StreamingUploadMixin.received_file`.

    Django's CSRF check looks for the form's `csrfmiddlewaretoken` first, which parses the
    whole body: run during authentication, it spooled uploads to tenants the caller is no
    member of. Deferred, it runs once the caller may send the body (and the body is refused
    unread otherwise); nothing is written before it has passed.
    """

    def enforce_csrf(self, request) -> None:
        if request.method != "POST":
            super().enforce_csrf(request)

    def check_csrf(self, request) -> None:
        super().enforce_csrf(request)


# For clients it is the session authentication the OpenAPI document calls cookieAuth.
set_override(UploadSessionAuthentication, "suppress_collision_warning", True)


class UploadSessionScheme(SessionScheme):
    # The same session cookie in the schema as SessionAuthentication's (`cookieAuth`).
    target_class = "files.api.receiving.UploadSessionAuthentication"


class StreamingUploadMixin:
    # Gives multipart POSTs a handler that hashes and counts the body as it arrives. It is
    # installed with the request, closed (anything reading the body early reads nothing),
    # and opened by `received_file` once `initial` has found the caller's membership and
    # the view has checked that they may upload there.

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    authentication_classes = [ApiTokenAuthentication, UploadSessionAuthentication]

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if request.method == "POST":
            self.upload_handler = HashingUploadHandler(request)
            request.upload_handlers = [self.upload_handler]
        return drf_request

    def received_file(self, request) -> HashedUpload:
        """Read the body now, at most the tenant's per-file limit in all; call it once the
        caller may upload here. The declared length is refused before anything is read."""
        limit = self.tenant.max_upload_bytes
        if declared_too_large(request, limit):
            raise PayloadTooLarge(f"Files are limited to {limit} bytes in this tenant.")
        self.upload_handler.open(max_bytes=limit)
        authenticator = request.successful_authenticator
        if isinstance(authenticator, UploadSessionAuthentication):
            authenticator.check_csrf(request)
        request.data  # noqa: B018 - parse the body now, through the hashing handler
        self.upload_handler.raise_if_refused(f"Files are limited to {limit} bytes in this tenant.")
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed("Send the file as the multipart field `file`.", code="file_required")
        return upload
