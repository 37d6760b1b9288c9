"""Defences against hostile input and faults, shared by every layer.

``urls``: which URLs may be fetched or stored, and printable forms of the rest; ``paths``:
relative paths that stay inside their dataset; ``decode``: content decoding with byte and
ratio limits; ``secrets``: one redaction helper for messages and log lines; ``procs``: process
liveness and workers that die with their parent. Standard library only at import (psutil and
brotli are imported where used), so the contracts (L0) may use them too.
"""
