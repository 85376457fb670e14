"""Tell systemd how the service is doing: the sd_notify(3) protocol in a few lines.

Under ``Type=notify`` systemd sets ``$NOTIFY_SOCKET``; a message is one datagram of
``KEY=value`` lines sent to it (a leading ``@`` names an abstract socket). Outside
systemd the variable is unset and every function here does nothing and returns False, so
callers never need to ask whether they run under systemd. No libsystemd, no package:
the protocol is a stable, documented datagram.

    READY=1             start-up is done (systemd's ``start`` returns now)
    STATUS=...          one line shown by ``systemctl status``
    WATCHDOG=1          "still alive", every half of ``$WATCHDOG_USEC``
    RELOADING=1         a reload started (with MONOTONIC_USEC=, as sd_notify(3) asks);
                        READY=1 ends it
    STOPPING=1          shutdown started
"""

from __future__ import annotations

import os
import socket
import time

import structlog

__all__ = [
    "enabled",
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog",
    "watchdog_period",
]

log = structlog.get_logger("scraper.notify")


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not address.startswith(("/", "@")):
        return None  # unset, or a kind of address (vsock:) we do not speak
    return "\0" + address[1:] if address.startswith("@") else address


def enabled() -> bool:
    """Is there a systemd to tell (``$NOTIFY_SOCKET`` set)?"""
    return _address() is not None


def notify(*lines: str) -> bool:
    """Send ``KEY=value`` lines in one datagram; False when there is no one to tell."""
    address = _address()
    if address is None:
        return False
    message = "\n".join(lines).encode("utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(message, address)
        except OSError as exc:
            # Never let bookkeeping take the service down; systemd's own timeouts notice.
            log.warning("notify.failed", socket=os.environ.get("NOTIFY_SOCKET"),
                        error=exc.strerror or str(exc))
            return False
    return True


def ready(status_line: str | None = None) -> bool:
    lines = ["READY=1"]
    if status_line is not None:
        lines.append(f"STATUS={_one_line(status_line)}")
    return notify(*lines)


def reloading() -> bool:
    # sd_notify(3): RELOADING=1 must carry the CLOCK_MONOTONIC time the reload began.
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(line: str) -> bool:
    return notify(f"STATUS={_one_line(line)}")


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def watchdog_period() -> float | None:
    """Seconds between two WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None if unwatched."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were started by a wrapper)
    return int(usec) / 2 / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
