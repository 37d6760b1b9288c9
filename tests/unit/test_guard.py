"""The shared defences: URL and path rules, bounded decoding, redaction, process liveness."""

from __future__ import annotations

import gzip
import logging
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
import zlib
from pathlib import Path

import pytest

from replica.guard.decode import RATIO_FLOOR, DecodeError, Limits, decode_content, inflate
from replica.guard.paths import RELPATH_REGEX, UnsafePath, inside, unsafe_relpath
from replica.guard.procs import alive, started_at
from replica.guard.secrets import install_log_redaction, redact
from replica.guard.urls import CONTROL, NO_CONTROL_REGEX, printable, unsafe_url

HTML = b"<html><body>" + b"<p>Harbour news, paragraph after paragraph.</p>" * 400 + b"</html>"
LIMITS = Limits(max_bytes=5_000_000, max_ratio=100.0)


def test_control_class_holds_every_control_format_and_separator_character() -> None:
    wanted = ("Cc", "Cf", "Zl", "Zp", "Cs")
    missing = [
        hex(c)
        for c in range(0x110000)
        if unicodedata.category(chr(c)) in wanted and not CONTROL.match(chr(c))
    ]
    assert missing == []
    assert not CONTROL.search("https://example.com/é/ü?q=日本")  # letters are not controls


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://example.com/a\r\nWARC-Type: metadata", "U+000D"),
        ("https://example.com/a\x00b", "U+0000"),
        ("https://example.com/\u202egpj.exe", "U+202E"),  # right-to-left override
        ("https://example.com/a\u2066b", "U+2066"),  # bidi isolate
        ("https://example.com/a\u200bb", "U+200B"),  # zero-width space
        ("https://example.com/" + "a" * 5000, "longer than 4096"),
        ("https://example.com/a b", "whitespace"),
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("https://user:pass@example.com/", "credentials"),
        ("https:///path-only", "no host"),
        ("http://example.com:99999/", "not a URL"),
        ("", "empty"),
    ],
)
def test_unsafe_urls_name_their_rule(url: str, rule: str) -> None:
    why = unsafe_url(url, 4096)
    assert why is not None and rule in why


def test_safe_urls_pass_and_archives_may_use_other_schemes() -> None:
    for url in (
        "https://example.com/a?b=c#d",
        "http://[2001:db8::1]:8080/x",
        "https://xn--e1a.ru/",
    ):
        assert unsafe_url(url, 4096) is None, url
    assert unsafe_url("dns:example.com", 4096, schemes=None) is None
    assert unsafe_url("dns:exa\nmple.com", 4096, schemes=None) is not None


def test_printable_escapes_controls_and_drops_credentials() -> None:
    shown = printable("https://u:secret@x.com/a\r\nb\u202ec")
    assert shown == "https://***@x.com/a\\x0d\\x0ab\\u202ec"
    assert not CONTROL.search(shown)


@pytest.mark.parametrize(
    "value",
    ["plain", "https://x.com/ü", "a\nb", "a\r", "a\x00", "x\u202e", "a\n", "\ufeffbom", ""],
)
def test_gx_regex_agrees_with_the_python_rule(value: str) -> None:
    assert bool(re.match(NO_CONTROL_REGEX, value)) == (CONTROL.search(value) is None)


@pytest.mark.parametrize(
    "rel",
    ["blobs/ab/x.png", "a", "...", "a/...b", ".hidden/x", "../x", "a/../b", "/etc/passwd",
     "a//b", "a/", "./a", "..", "C:x", "c:/x", "a\\b", "a\x00b", "a\u202eb", "", "a\n"],
)  # fmt: skip
def test_relpath_rule_and_its_gx_regex_agree(rel: str) -> None:
    ok = rel in ("blobs/ab/x.png", "a", "...", "a/...b", ".hidden/x")
    assert (unsafe_relpath(rel) is None) == ok
    assert bool(re.match(RELPATH_REGEX, rel)) == ok


def test_inside_refuses_traversal_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "blobs").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"x")
    (root / "blobs" / "ok.png").write_bytes(b"y")
    (root / "blobs" / "link.png").symlink_to(tmp_path / "secret.png")
    assert inside(root, "blobs/ok.png") == root / "blobs" / "ok.png"
    with pytest.raises(UnsafePath, match="leaves its dataset"):
        inside(root, "../secret.png")
    with pytest.raises(UnsafePath, match="symlink"):
        inside(root, "blobs/link.png")


# -- bounded decoding ------------------------------------------------------------------------
def zeros_gzip(n: int) -> bytes:
    """gzip of ``n`` zero bytes, built by streaming (never ``n`` bytes in memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    out = [c.compress(block) for _ in range(n >> 20)]
    return b"".join([*out, c.flush()])


def test_each_coding_round_trips() -> None:
    import_brotli = pytest.importorskip("brotli")
    for coding, data in [
        ("gzip", gzip.compress(HTML)),
        ("x-gzip", gzip.compress(HTML)),
        ("deflate", zlib.compress(HTML)),
        ("deflate", zlib.compress(HTML)[2:-4]),  # raw deflate, as some servers send it
        ("br", import_brotli.compress(HTML)),
        ("gzip, br", import_brotli.compress(gzip.compress(HTML))),
        ("gzip", gzip.compress(HTML[:100]) + gzip.compress(HTML[100:])),  # two members
        ("identity", HTML),
        ("compress-me-not", HTML),  # unknown codings pass through, like warcio
        ("gzip", HTML),  # labelled gzip but plain: taken as it is
    ]:
        assert decode_content(data, coding, LIMITS) == HTML, coding


def test_gzip_bomb_stops_at_the_bound_without_inflating_it() -> None:
    bomb = zeros_gzip(1 << 30)  # 1 GiB of zeros in about 1 MB
    started = time.process_time()
    with pytest.raises(DecodeError) as err:
        decode_content(bomb, "gzip", Limits(max_bytes=10**12, max_ratio=100.0))
    assert err.value.reason == "decompression_bomb" and "100x" in str(err.value)
    assert time.process_time() - started < 5  # stopped at ~100 MB, not after 1 GiB
    with pytest.raises(DecodeError) as err:
        decode_content(bomb, "gzip", Limits(max_bytes=2_000_000, max_ratio=1e9))
    assert err.value.reason == "too_large"


def test_brotli_bomb_is_refused() -> None:
    brotli = pytest.importorskip("brotli")
    bomb = brotli.compress(bytes(200 << 20), quality=5)  # 200 MiB of zeros in a few hundred bytes
    with pytest.raises(DecodeError) as err:
        inflate(bomb, "br", LIMITS)
    assert err.value.reason == "decompression_bomb"


def test_ratio_applies_only_past_the_floor_and_broken_streams_are_errors() -> None:
    small = gzip.compress(bytes(RATIO_FLOOR // 2))  # ratio ~1000, but only 512 KiB out
    assert len(decode_content(small, "gzip", LIMITS)) == RATIO_FLOOR // 2
    with pytest.raises(DecodeError) as err:
        decode_content(gzip.compress(HTML)[:-40], "gzip", LIMITS)
    assert err.value.reason == "decode_error"
    with pytest.raises(DecodeError) as err:
        decode_content(b"x" * 10, "gzip", Limits(max_bytes=5, max_ratio=100))
    assert err.value.reason == "too_large"


# -- redaction -------------------------------------------------------------------------------
def test_redact_user_info_query_secrets_and_secret_env_values() -> None:
    env = {
        "MLFLOW_TRACKING_TOKEN": "tok-0123456789",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "MLFLOW_TRACKING_PASSWORD": "hunter2-hunter2",
        "HOME": "/root",  # not a secret name: left alone
        "API_TOKEN": "1",  # too short to redact without blanking ordinary text
    }
    text = (
        "failed at tracking URI 'https://bob:pw@mlflow.example:5000' with tok-0123456789; "
        "s3 said wJalrXUtnFEMI/K7MDENG; https://x/y?X-Amz-Signature=abc&b=1 (hunter2-hunter2) "
        "in /root, attempt 1"
    )
    out = redact(text, env)
    for secret in ("bob:pw", "tok-0123456789", "wJalrXUtnFEMI", "abc&", "hunter2"):
        assert secret not in out, secret
    assert "https://***@mlflow.example:5000" in out and "X-Amz-Signature=***&b=1" in out
    assert "/root, attempt 1" in out


def test_log_records_of_every_logger_are_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-9876543210")
    original = logging.getLogRecordFactory()
    try:
        install_log_redaction()
        install_log_redaction()  # idempotent
        logger = logging.getLogger("replica.test.redaction")
        handler = logging.StreamHandler(sys.stderr)
        logger.addHandler(handler)
        try:
            logger.warning("connecting to %s with %s", "http://u:p@h:1", "tok-9876543210")
        finally:
            logger.removeHandler(handler)
    finally:
        logging.setLogRecordFactory(original)
    err = capsys.readouterr().err
    assert "connecting to http://***@h:1 with ***" in err and "tok-98" not in err


# -- processes -------------------------------------------------------------------------------
def test_alive_knows_a_dead_pid_and_a_reused_one() -> None:
    me = os.getpid()
    assert alive(me, started_at(me)) and alive(me, None)
    assert not alive(me, (started_at(me) or 0) - 3600)  # same pid, another start: not it
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive(child.pid, None)


ORPHAN = """
import os, sys, time
from replica.guard.procs import die_with_parent
parent = os.getpid()
pid = os.fork()
if pid == 0:
    die_with_parent(parent)
    time.sleep(120)  # busy in C: only a signal ends it
    os._exit(0)
print(pid, flush=True)
time.sleep(120)
"""


def test_a_worker_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.3)  # the child has called prctl
    assert alive(child, None)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(child, None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child, None)
