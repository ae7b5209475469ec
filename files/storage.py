"""S3 clients for the primary, replica and archive stores.

One client per role and process: boto3 clients are thread-safe and expensive to build.
"""

from __future__ import annotations

from functools import lru_cache

import boto3
from botocore.config import Config
from django.conf import settings


def _config(*, fast: bool = False) -> Config:
    return Config(
        s3={"addressing_style": settings.S3_ADDRESSING_STYLE},
        signature_version="s3v4",
        connect_timeout=1 if fast else 3,
        read_timeout=2 if fast else 60,
        retries={"max_attempts": 1 if fast else 3, "mode": "standard"},
        # Checksums only where S3 requires them: we hash with SHA-256 ourselves, and the
        # extra CRC pass costs ~50% on large PUTs against S3-compatible servers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@lru_cache(maxsize=8)
def s3_client(role: str = "primary", *, fast: bool = False, public: bool = False):
    """The S3 client for `primary`, `replica` or `archive`; `public` signs URLs for browsers."""
    if role == "replica":
        endpoint, region = settings.S3_REPLICA_ENDPOINT_URL, settings.S3_REPLICA_REGION
        key, secret = settings.S3_REPLICA_ACCESS_KEY_ID, settings.S3_REPLICA_SECRET_ACCESS_KEY
    else:
        endpoint = settings.S3_PUBLIC_ENDPOINT_URL if public else settings.S3_ENDPOINT_URL
        region, key, secret = settings.S3_REGION, settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region,
        aws_access_key_id=key or None,
        aws_secret_access_key=secret or None,
        config=_config(fast=fast),
    )


def bucket_for(role: str = "primary") -> str:
    return {
        "primary": settings.S3_BUCKET,
        "replica": settings.S3_REPLICA_BUCKET,
        "archive": settings.S3_ARCHIVE_BUCKET,
    }[role]
