"""sd_notify over a real datagram socket: a path, an abstract name, none at all."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper import sdnotify


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A socket standing in for systemd's, named in $NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def test_ready_with_status_is_one_datagram(systemd):
    assert sdnotify.ready("3 watches, 1 failing\nnext run in 5 s")
    assert systemd.recv(4096) == b"READY=1\nSTATUS=3 watches, 1 failing next run in 5 s"


def test_each_message(systemd):
    assert sdnotify.status("ok") and sdnotify.watchdog() and sdnotify.stopping()
    assert [systemd.recv(4096) for _ in range(3)] == [b"STATUS=ok", b"WATCHDOG=1",
                                                      b"STOPPING=1"]


def test_reloading_carries_the_monotonic_time(systemd):
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading()
    first, second = systemd.recv(4096).decode().split("\n")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after


def test_abstract_socket(monkeypatch):
    name = f"scraper-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.enabled()
        assert sdnotify.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.enabled()
    assert not sdnotify.ready("x")


def test_a_missing_socket_is_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert sdnotify.enabled()
    assert not sdnotify.watchdog()  # logged, not raised


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("30000000", None, 15.0),
    ("200000", "self", 0.1),
    ("200000", "1", None),  # meant for another process
    ("0", None, None),
    (None, None, None),
    ("junk", None, None),
])
def test_watchdog_period(monkeypatch, usec, pid, expected):
    for key, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, str(os.getpid()) if value == "self" else value)
    assert sdnotify.watchdog_period() == expected
