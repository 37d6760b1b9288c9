"""Turn crawled WARC records into article rows, image rows and content-addressed image blobs."""

from replica.extract.articles import Article, extract_article
from replica.extract.images import ImageRef, find_images, inspect_image, normalize_url
from replica.extract.records import WebRecord, read_warc
from replica.extract.run import ExtractResult, extract_records

__all__ = [
    "Article",
    "ExtractResult",
    "ImageRef",
    "WebRecord",
    "extract_article",
    "extract_records",
    "find_images",
    "inspect_image",
    "normalize_url",
    "read_warc",
]
