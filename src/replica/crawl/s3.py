"""WARC files on S3 (e.g. CC-NEWS ``s3://commoncrawl/crawl-data/CC-NEWS/YYYY/MM/*.warc.gz``).

boto3 takes credentials, region and endpoint from the environment as usual (``AWS_*``,
``AWS_ENDPOINT_URL`` for S3-compatible stores); objects are read as a stream.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from replica.crawl.sources import SourcesError

_GLOB = re.compile(r"[*?\[]")


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise SourcesError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def list_objects(pattern: str, client: Any | None = None) -> list[str]:
    """The ``s3://`` URIs matching a glob (``*`` does not cross ``/``), sorted; none is an error."""
    bucket, key_glob = split_uri(pattern)
    m = _GLOB.search(key_glob)
    prefix = key_glob[: m.start()] if m else key_glob
    client = client or _client()
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key == key_glob or (m and _match(key, key_glob)):
                found.append(f"s3://{bucket}/{key}")
    if not found:
        raise SourcesError(f"{pattern!r} matches no S3 object")
    return sorted(found)


@contextmanager
def open_object(uri: str, client: Any | None = None) -> Iterator[BinaryIO]:
    """A forward-only stream of an object's bytes (never read whole into memory)."""
    bucket, key = split_uri(uri)
    body = (client or _client()).get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield body
    finally:
        body.close()


def _match(key: str, pattern: str) -> bool:
    return key.count("/") == pattern.count("/") and fnmatch.fnmatchcase(key, pattern)


def _client() -> Any:
    import boto3

    return boto3.client("s3")
