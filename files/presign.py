"""Presigned GET URLs for browsers, signed on the URL alone and handed out again for a while.

Lists and pages hand out presigned URLs by the hundred (a page of 50 photos: ~150 rendition
URLs), and a boto3 client builds a whole request through botocore's service model and event
hooks for each. `files.storage.BucketStorage` signs a path-style GET with static credentials
here instead, with botocore's own query-string signer: the same SigV4 URL the client makes
(tests compare the two).
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# The parameters signed here, and their names in the URL.
PRESIGN_PARAMETERS = {
    "ResponseContentDisposition": "response-content-disposition",
    "ResponseContentType": "response-content-type",
}

# A URL is handed out again for a fifth of its lifetime (less a second: the signature's date
# is whole seconds), so every URL handed out stays valid for at least four fifths of it (4 of
# 5 minutes). Galleries ask for the same renditions' URLs over and over. At most
# SIGNED_URLS_KEPT are kept per signer.
SIGNED_URL_REUSE = 5
SIGNED_URLS_KEPT = 8192


class GetSigner:
    """Signs GET URLs of one bucket on a path-style endpoint, keeping what it signed."""

    def __init__(self, *, endpoint_url: str, bucket: str, region: str, access_key: str, secret_key: str) -> None:
        endpoint = urlsplit(endpoint_url)
        self.base = f"{endpoint.scheme}://{endpoint.netloc}{endpoint.path.rstrip('/')}/{bucket}/"
        self.region = region
        self.credentials = Credentials(access_key, secret_key)
        self.signed: dict[tuple, tuple[float, str]] = {}

    def url(self, key: str, parameters: dict, expires: int) -> str:
        """The URL signed for the same GET less than a fifth of its lifetime ago, else a new one.

        Callers decide who may have the URL before they ask; this keeps only signatures, and
        anyone allowed the same object, name and type gets the same URL (its bytes are the
        same for all of them)."""
        reuse_for = expires / SIGNED_URL_REUSE - 1
        if reuse_for <= 0:
            return self.sign(key, parameters, expires)
        entry = (key, parameters.get("ResponseContentDisposition"), parameters.get("ResponseContentType"), expires)
        now = time.monotonic()
        kept = self.signed.get(entry)
        if kept is not None and now - kept[0] < reuse_for:
            return kept[1]
        url = self.sign(key, parameters, expires)
        if len(self.signed) >= SIGNED_URLS_KEPT:
            self.signed = {k: v for k, v in self.signed.items() if now - v[0] < reuse_for}
            if len(self.signed) >= SIGNED_URLS_KEPT // 2:
                self.signed = {}
        self.signed[entry] = (now, url)
        return url

    def sign(self, key: str, parameters: dict, expires: int) -> str:
        query = "&".join(
            f"{PRESIGN_PARAMETERS[name]}={quote(parameters[name], safe='-_.~')}"
            for name in PRESIGN_PARAMETERS
            if name in parameters
        )
        request = AWSRequest(method="GET", url=f"{self.base}{quote(key, safe='/~')}" + (f"?{query}" if query else ""))
        S3SigV4QueryAuth(self.credentials, "s3", self.region, expires=int(expires)).add_auth(request)
        return request.url
