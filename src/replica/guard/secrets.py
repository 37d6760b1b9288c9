"""One redaction helper for every message and log line: no credential leaves the process.

Redacted: the user info of any URI (``scheme://user:pass@host`` -> ``scheme://***@host``), the
values of query parameters that carry credentials (``token=``, ``X-Amz-Signature=``, ...), and
the value of every environment variable whose name says it is a secret (``*TOKEN*``,
``*SECRET*``, ``*PASSWORD*``, ``*KEY*``, ... e.g. ``AWS_SECRET_ACCESS_KEY``,
``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_PASSWORD``) wherever it appears. The environment
is read at call time, never at import.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

MASK = "***"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|API_?KEY|_KEY\b|AUTH")
MIN_SECRET_CHARS = 6  # shorter values ("1", "true") would blank out ordinary words
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@'\"<>]*@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:access_token|token|api_?key|key|password|passwd|secret|sig|signature|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|auth)=)[^&#\s'\"]*"
)


def strip_userinfo(text: str) -> str:
    """``text`` with the user info of every URI replaced by ``***``."""
    return _USERINFO.sub(rf"\1{MASK}@", text)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret-named environment variables, longest first."""
    env = os.environ if environ is None else environ
    found = {
        v
        for k, v in env.items()
        if SECRET_NAME.search(k.upper()) and len(v.strip()) >= MIN_SECRET_CHARS
    }
    return sorted(found, key=len, reverse=True)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` without user info, credential query parameters or secret env values."""
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return _QUERY_SECRET.sub(rf"\1{MASK}", strip_userinfo(text))


def install_log_redaction() -> None:
    """Redact every log record of every logger from now on (once per process).

    A record factory rather than a handler filter: it also covers loggers that bring their
    own handlers (MLflow's) and Python's last-resort handler.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "replica_redacts", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is reported by the handler, as usual
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return record

    factory.replica_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
