"""A stand-in for the system resolver, for tests of names that do not resolve.

Names under ``.invalid`` (RFC 6761: never a real name) are answered from a hosts file the
test writes, one ``NAME ADDRESS`` a line, and fail with EAI_NONAME when absent: the system
resolver is never asked, so no DNS packet leaves the machine (this host's resolv.conf
points at a name server elsewhere). Any other name must be an IP literal. Each name asked
is appended to ``HOSTS.asked``, so a test can see it was this function that answered.

``python -c`` wrappers call ``install(path)`` before importing the scraper; in-process
tests monkeypatch ``socket.getaddrinfo`` with ``make_getaddrinfo(path)``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def make_getaddrinfo(hosts_file: str | Path) -> Callable[..., Any]:
    hosts_path = Path(hosts_file)
    asked_path = hosts_path.with_name(hosts_path.name + ".asked")

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return _real_getaddrinfo(host, port, *args, **kwargs)  # numeric: no lookup
        with asked_path.open("a", encoding="utf-8") as asked:
            asked.write(name + "\n")
        if name.rstrip(".").lower().endswith(".invalid") and hosts_path.exists():
            for line in hosts_path.read_text(encoding="utf-8").splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[0] == name:
                    return _real_getaddrinfo(fields[1], port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return getaddrinfo


def install(hosts_file: str | Path) -> None:
    socket.getaddrinfo = make_getaddrinfo(hosts_file)
