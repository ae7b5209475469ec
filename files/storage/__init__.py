"""Object storage: the one module of the files app that talks to S3.

Every call goes through the storage objects of `settings.STORAGES` (`primary`, `archive`,
`replica`, each a `BucketStorage`); what django-storages' Storage API lacks (streamed reads
with their ETag, HEAD, conditional copies, listings with a delimiter, presigned POST) uses
the boto3 client that the storage object holds. A storage outage surfaces as one error,
`StorageUnavailable` (503 `storage_unavailable`), instead of a botocore traceback.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from files.presign import PRESIGN_PARAMETERS, GetSigner
from mediaportal.exceptions import ServiceUnavailable

log = logging.getLogger(__name__)

ROLES = ("primary", "archive", "replica")

# The S3_* settings each role's storage is built from (the archive bucket lives beside the
# primary one; the replica may be another region, account or provider).
ROLE_SETTINGS = {
    "primary": {
        "bucket_name": "S3_BUCKET",
        "endpoint_url": "S3_ENDPOINT_URL",
        "public_endpoint_url": "S3_PUBLIC_ENDPOINT_URL",
        "region_name": "S3_REGION",
        "access_key": "S3_ACCESS_KEY_ID",
        "secret_key": "S3_SECRET_ACCESS_KEY",
    },
    "archive": {
        "bucket_name": "S3_ARCHIVE_BUCKET",
        "endpoint_url": "S3_ENDPOINT_URL",
        "public_endpoint_url": "S3_PUBLIC_ENDPOINT_URL",
        "region_name": "S3_REGION",
        "access_key": "S3_ACCESS_KEY_ID",
        "secret_key": "S3_SECRET_ACCESS_KEY",
    },
    "replica": {
        "bucket_name": "S3_REPLICA_BUCKET",
        "endpoint_url": "S3_REPLICA_ENDPOINT_URL",
        "public_endpoint_url": "S3_REPLICA_PUBLIC_ENDPOINT_URL",
        "region_name": "S3_REPLICA_REGION",
        "access_key": "S3_REPLICA_ACCESS_KEY_ID",
        "secret_key": "S3_REPLICA_SECRET_ACCESS_KEY",
    },
}

# S3's largest single PUT. An object is written in one PUT whose SHA-256 checksum S3 checks
# against the bytes it received; a multipart upload could not carry that checksum.
MAX_PUT_BYTES = 5 * 1024**3


def _client_config(*, connect_timeout: float, read_timeout: float, attempts: int) -> Config:
    """Every S3 call ends within `attempts` × (`connect_timeout` + `read_timeout`) and a
    backoff of at most a second between attempts: an S3 that stops answering (frozen, not
    down) must cost a request a 503 in seconds, not hold it until the server comes back.
    The read timeout bounds each wait on the socket, not a whole transfer."""
    return Config(
        s3={
            "addressing_style": settings.S3_ADDRESSING_STYLE,
            # The body is not hashed for the signature: a write carries its SHA-256 as a
            # checksum (`ChecksumSHA256`), computed while the bytes arrived, which S3 checks.
            "payload_signing_enabled": False,
        },
        signature_version="s3v4",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        # Checksums only where S3 requires them or we send our own: a CRC that botocore
        # computed would be one more pass over bytes that are hashed already.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


class BucketStorage(S3Storage):
    """django-storages' S3Storage for one bucket role, built from that role's S3_* settings.

    `public_endpoint_url` is the S3 address browsers use (presigned URLs and POSTs are signed
    for it); the server itself may reach S3 on another, internal one (`endpoint_url`).
    """

    def __init__(self, *, role: str = "primary", **options) -> None:
        self.role = role
        self._session = None
        self._shared_connection = None
        self._public_client = None
        self._probe_client = None
        self._signer: GetSigner | None = None
        self._connection_lock = threading.Lock()
        super().__init__(**options)

    def get_default_settings(self) -> dict:
        defaults = super().get_default_settings()
        defaults.update(
            {name: getattr(settings, setting) or None for name, setting in ROLE_SETTINGS[self.role].items()}
        )
        defaults.update(
            addressing_style=settings.S3_ADDRESSING_STYLE,
            signature_version="s3v4",
            client_config=_client_config(
                connect_timeout=settings.S3_CONNECT_TIMEOUT,
                read_timeout=settings.S3_READ_TIMEOUT,
                attempts=settings.S3_MAX_ATTEMPTS,
            ),
            transfer_config=TransferConfig(use_threads=False, multipart_threshold=MAX_PUT_BYTES + 1),
            querystring_expire=min(settings.S3_PRESIGN_SECONDS, 300),
            file_overwrite=True,
            default_acl=None,
            custom_domain=None,
        )
        return defaults

    def _create_session(self):
        # One boto3 session per storage (called under `_connection_lock`: sessions are not
        # thread-safe): each new one loads botocore's models again, slow and several MB.
        if self._session is None:
            self._session = super()._create_session()
        return self._session

    @property
    def connection(self):
        # django-storages builds a boto3 session and resource per thread, each slow to build
        # and several MB, for every request and upload thread. The client is thread-safe, and
        # only it and fresh sub-resources are used (as django-storages' shared `bucket` does),
        # so one serves every thread.
        if self._shared_connection is None:
            with self._connection_lock:
                if self._shared_connection is None:
                    self._shared_connection = super().connection
        return self._shared_connection

    @property
    def client(self):
        return self.connection.meta.client

    @property
    def public_client(self):
        """The client that signs URLs and POSTs for browsers (it makes no requests itself)."""
        if not self.public_endpoint_url or self.public_endpoint_url == self.endpoint_url:
            return self.client
        if self._public_client is None:
            with self._connection_lock:
                if self._public_client is None:
                    self._public_client = self._create_session().client(
                        "s3",
                        region_name=self.region_name,
                        endpoint_url=self.public_endpoint_url,
                        config=self.client_config,
                    )
        return self._public_client

    @property
    def probe_client(self):
        """A client for health checks: one attempt, short timeouts, so a check answers in
        about 3 s whatever the server does."""
        if self._probe_client is None:
            with self._connection_lock:
                if self._probe_client is None:
                    short = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
                    self._probe_client = self._create_session().client(
                        "s3",
                        region_name=self.region_name,
                        use_ssl=self.use_ssl,
                        endpoint_url=self.endpoint_url,
                        config=self.client_config.merge(short),
                        verify=self.verify,
                    )
        return self._probe_client

    def url(self, name: str, parameters: dict | None = None, expire: int | None = None, http_method=None) -> str:
        key = self._normalize_name(clean_name(name))
        expires = self.querystring_expire if expire is None else expire
        if http_method in (None, "GET") and self._signs_itself(parameters or {}):
            return self.signer.url(key, parameters or {}, int(expires))
        return self.public_client.generate_presigned_url(
            "get_object",
            Params={**(parameters or {}), "Bucket": self.bucket_name, "Key": key},
            ExpiresIn=expires,
            HttpMethod=http_method,
        )

    # A path-style GET with static credentials is signed on the URL alone (files.presign);
    # anything else goes through the client.

    def _signs_itself(self, parameters: dict) -> bool:
        return bool(
            self.addressing_style == "path"
            and (self.public_endpoint_url or self.endpoint_url)
            and self.access_key
            and self.secret_key
            and not self.security_token
            and self.region_name
            and parameters.keys() <= PRESIGN_PARAMETERS.keys()
        )

    @property
    def signer(self) -> GetSigner:
        if self._signer is None:
            self._signer = GetSigner(
                endpoint_url=self.public_endpoint_url or self.endpoint_url,
                bucket=self.bucket_name,
                region=self.region_name,
                access_key=self.access_key,
                secret_key=self.secret_key,
            )
        return self._signer

    def _get_write_parameters(self, name: str, content=None) -> dict:
        # django-storages' hook for a write's parameters. The type is the one we sniffed (never
        # guessed from the key), and the SHA-256 goes along twice: as metadata, for later
        # verification (with the tenant: the bucket describes itself without the database),
        # and as the checksum S3 refuses the write by when the bytes differ.
        params = {**self.get_object_parameters(name), **sse_parameters()}
        params["ContentType"] = getattr(content, "content_type", None) or self.default_content_type
        sha256 = getattr(content, "sha256", None)
        if sha256:
            params["Metadata"] = object_metadata(tenant_id=getattr(content, "tenant_id", None), sha256=sha256)
            params["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
        storage_class = getattr(content, "storage_class", None)
        if storage_class:
            params["StorageClass"] = storage_class
        return params


def bucket_storage(role: str = "primary") -> BucketStorage:
    return storages[role]


def s3_client(role: str = "primary"):
    """The boto3 client of the role's storage object."""
    return bucket_storage(role).client


def sse_parameters() -> dict:
    """What every write and copy asks for when S3_SSE is set: server-side encryption, with
    the KMS key when one is named (replica and archive included)."""
    if not settings.S3_SSE:
        return {}
    params = {"ServerSideEncryption": settings.S3_SSE}
    if settings.S3_SSE == "aws:kms" and settings.S3_SSE_KMS_KEY_ID:
        params["SSEKMSKeyId"] = settings.S3_SSE_KMS_KEY_ID
    return params


def object_metadata(*, tenant_id, sha256: str) -> dict[str, str]:
    """The object metadata every stored object carries: whose it is and its SHA-256."""
    metadata = {"sha256": sha256}
    if tenant_id:
        metadata["tenant"] = str(tenant_id)
    return metadata


def storages_reset(*, setting: str, **kwargs) -> None:
    """`setting_changed` receiver: a changed S3_* setting (tests point them at a server of
    their own) makes the next use build the bucket storages again. Django drops its storage
    objects the same way when STORAGES itself changes (django.test.signals)."""
    if setting.startswith("S3_"):
        for role in ROLES:
            storages._storages.pop(role, None)


# --- Errors ------------------------------------------------------------------------


class StorageUnavailable(ServiceUnavailable):
    default_code = "storage_unavailable"
    default_detail = "File storage is unavailable right now; nothing was saved. Try again shortly."


class ObjectChanged(Exception):
    """A conditional copy's source is no longer the object that was read (or is gone)."""


class ObjectArchived(Exception):
    """The object is in a cold storage class (Glacier): it must be restored before a read."""


def _is_archived(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "InvalidObjectState"


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def _is_precondition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"412", "PreconditionFailed"}


@contextmanager
def storage_errors(action: str):
    try:
        yield
    except ClientError as exc:
        # Answers about the object, not the service: the caller decides what they mean.
        if _is_missing(exc) or _is_precondition_failed(exc):
            raise
        log.warning("S3 %s failed: %s", action, exc)
        raise StorageUnavailable() from exc
    except BotoCoreError as exc:
        log.warning("S3 %s failed: %s", action, exc)
        raise StorageUnavailable() from exc


# --- Keys ---------------------------------------------------------------------------

TENANTS_PREFIX = "tenants/"


def blob_key(tenant_id, sha256: str) -> str:
    return f"tenants/{tenant_id}/blobs/{sha256[:2]}/{sha256}"


def staging_key(tenant_id, upload_id) -> str:
    return f"tenants/{tenant_id}/staging/{upload_id}"


# --- Object operations (each in one bucket role, the primary by default) -------------


class _ObjectBody(File):
    """The bytes of one write, with the type, SHA-256, tenant and storage class that
    `_get_write_parameters` sends.

    Read in larger pieces than urllib3 asks for (16 KiB): for 10 MB, 40 rounds of read and
    send instead of 640, each taking the GIL back from the request thread that inserts the
    upload's rows meanwhile. 1 MiB pieces added 2 MB to a web worker's peak for nothing
    measurable.
    """

    READ_BYTES = 256 * 1024

    def __init__(
        self, file, *, name: str, content_type: str, sha256: str, tenant_id=None, storage_class: str | None = None
    ) -> None:
        super().__init__(file, name)
        self.content_type = content_type
        self.sha256 = sha256
        self.tenant_id = tenant_id
        self.storage_class = storage_class

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size if size is None or size < 0 else max(size, self.READ_BYTES))


def object_put(
    *,
    key: str,
    body,
    sha256: str,
    content_type: str,
    tenant_id=None,
    role: str = "primary",
    storage_class: str | None = None,
) -> None:
    """Write an object (bytes, or a file read from its start); S3 refuses it unless its
    bytes have this SHA-256, which is also stored beside it (as metadata, with the tenant)
    for later verification."""
    file = io.BytesIO(body) if isinstance(body, bytes | bytearray | memoryview) else body
    content = _ObjectBody(
        file, name=key, content_type=content_type, sha256=sha256, tenant_id=tenant_id, storage_class=storage_class
    )
    with storage_errors("put"):
        bucket_storage(role).save(key, content)


def object_copy(
    *,
    source_key: str,
    key: str,
    sha256: str,
    content_type: str,
    tenant_id=None,
    if_match: str | None = None,
    source_role: str = "primary",
    role: str = "primary",
    storage_class: str | None = None,
) -> None:
    """Copy server-side (from `source_role`'s bucket into `role`'s, which must be on the same
    S3 service); with `if_match` (an ETag) only if the source is still that object, else
    `ObjectChanged` and nothing is written."""
    storage = bucket_storage(role)
    params = {
        "Bucket": storage.bucket_name,
        "Key": key,
        "CopySource": {"Bucket": bucket_storage(source_role).bucket_name, "Key": source_key},
        "MetadataDirective": "REPLACE",
        "Metadata": object_metadata(tenant_id=tenant_id, sha256=sha256),
        "ContentType": content_type,
        **sse_parameters(),
    }
    if storage_class:
        params["StorageClass"] = storage_class
    if if_match:
        params["CopySourceIfMatch"] = if_match
    try:
        with storage_errors("copy"):
            storage.client.copy_object(**params)
    except ClientError as exc:  # 412 (replaced since it was read) or 404 (deleted)
        if _is_archived(exc):
            raise ObjectArchived(source_key) from exc
        raise ObjectChanged(source_key) from exc


def object_head(key: str, role: str = "primary") -> dict | None:
    """The object's headers, or None when it does not exist."""
    storage = bucket_storage(role)
    try:
        with storage_errors("head"):
            return storage.client.head_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


@dataclass
class OpenedObject:
    """One GET in progress: the size and ETag of exactly the bytes `chunks` yields."""

    size: int
    etag: str
    chunks: Iterator[bytes]
    _body: object
    metadata: dict

    def close(self) -> None:
        self._body.close()


def _get(key: str, role: str = "primary") -> dict:
    # A GET of our own: the Storage API's `open` downloads the whole object before the first
    # byte is returned, and does not say which version of the object (ETag) it read.
    storage = bucket_storage(role)
    try:
        return storage.client.get_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as exc:
        if _is_archived(exc):
            raise ObjectArchived(key) from exc
        raise


def object_open(key: str, chunk_size: int = 1024 * 1024, role: str = "primary") -> OpenedObject | None:
    """Start reading an object; None when it does not exist. Close it if not read to the end."""
    try:
        with storage_errors("get"):
            response = _get(key, role)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    body = response["Body"]

    def chunks() -> Iterator[bytes]:
        with storage_errors("get"):
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    return OpenedObject(
        size=response["ContentLength"],
        etag=response["ETag"],
        chunks=chunks(),
        _body=body,
        metadata=response.get("Metadata", {}),
    )


def object_chunks(key: str, chunk_size: int = 1024 * 1024, role: str = "primary") -> Iterator[bytes]:
    with storage_errors("get"):
        body = _get(key, role)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()


def object_delete(key: str, role: str = "primary") -> None:
    with storage_errors("delete"):
        bucket_storage(role).delete(key)


def object_keys(prefix: str, role: str = "primary") -> Iterator[dict]:
    """Every object under `prefix`, as S3 lists them (Key, Size, LastModified)."""
    storage = bucket_storage(role)
    with storage_errors("list"):
        paginator = storage.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=prefix):
            yield from page.get("Contents", [])


def object_prefixes(prefix: str, role: str = "primary") -> Iterator[str]:
    """The "folders" right below `prefix` ("tenants/" → "tenants/<id>/", ...).

    Some servers (SeaweedFS) keep listing a folder after its last object is gone."""
    storage = bucket_storage(role)
    with storage_errors("list"):
        paginator = storage.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"]


def object_last_modified(key: str, role: str = "primary"):
    """When the object was last written, or None when it does not exist."""
    head = object_head(key, role)
    return head["LastModified"] if head else None


# --- Browser access -----------------------------------------------------------------


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """RFC 6266 header: an ASCII fallback plus the exact UTF-8 name."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def presigned_get(*, key: str, filename: str, content_type: str, inline: bool = False, role: str = "primary") -> str:
    """A GET URL for browsers, valid for at most 5 minutes, naming the download's file and type."""
    parameters = {
        "ResponseContentDisposition": content_disposition(filename, inline=inline),
        "ResponseContentType": content_type if inline else "application/octet-stream",
    }
    return bucket_storage(role).url(key, parameters=parameters)


# The form fields of a browser's POST that ask for server-side encryption, by the
# parameter of `sse_parameters()` they carry.
SSE_POST_FIELDS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}


def presigned_post(*, key: str, max_bytes: int, expires_in: int) -> dict:
    """A presigned POST for a browser's direct upload. The browser writes the object itself,
    so when S3_SSE is set its form carries the encryption fields, and the signed policy
    requires them: a form sent without them is refused, never stored in the clear."""
    storage = bucket_storage()
    fields = {SSE_POST_FIELDS[name]: value for name, value in sse_parameters().items()}
    return storage.public_client.generate_presigned_post(
        Bucket=storage.bucket_name,
        Key=key,
        Fields=fields,
        Conditions=[["content-length-range", 1, max_bytes], *({name: value} for name, value in fields.items())],
        ExpiresIn=expires_in,
    )
