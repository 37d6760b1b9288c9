"""replica: image provenance pipeline (crawl → extract → dedup → pairs → train → promote)."""

__version__ = "0.1.0"
