"""The shipped systemd units: ``systemd-analyze verify`` is silent, the service's exposure
score is 2.0 or lower, and the unit's timeouts fit the program's. Skipped where
systemd-analyze is missing (.ci/run installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scraper.models import Settings
from tests.conftest import REPO

UNITS = REPO / "systemd"
INSTALLED = "/opt/scraper/.venv/bin/scrape"  # where the units expect the program
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
ENV = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}


def unit_files() -> list[Path]:
    return sorted([*UNITS.glob("*.service"), *UNITS.glob("*.timer")])


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    return sum(float(n) * units[u or "s"] for n, u in re.findall(r"(\d+)\s*([a-z]*)", value))


@needs_analyze
def test_units_verify_without_a_word(tmp_path):
    # verify insists that ExecStart's program exists: check copies that point at this
    # checkout's program, everything else as shipped.
    program = Path(sys.executable).with_name("scrape")
    if not program.exists():
        program = Path(sys.executable)
    copies = []
    for unit in unit_files():
        text = unit.read_text(encoding="utf-8")
        if unit.suffix == ".service":
            assert INSTALLED in text, unit.name
        copy = tmp_path / unit.name
        copy.write_text(text.replace(INSTALLED, str(program)), encoding="utf-8")
        copies.append(copy.name)
    assert {"scraper.service", "scraper-once.service", "scraper-once.timer"} <= set(copies)

    result = subprocess.run([ANALYZE, "verify", *copies], cwd=tmp_path, env=ENV,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""  # it only warns on an unknown key


@needs_analyze
@pytest.mark.parametrize("unit", ["scraper.service", "scraper-once.service"])
def test_exposure_is_ok(unit):
    result = subprocess.run([ANALYZE, "security", "--offline=yes", str(UNITS / unit)],
                            env=ENV, capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    print(f"{unit}: exposure {match[1]} {match[2]}")
    assert float(match[1]) <= 2.0 and match[2] == "OK"


def test_service_timeouts_fit_the_program():
    service = directives(UNITS / "scraper.service")
    assert service["Type"] == ["notify"]  # notify-reload is unknown to systemd 252
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["ExecStart"][0].startswith(f"{INSTALLED} run --config ")
    # Stop: the program drains for shutdown_timeout, then needs a moment to close.
    default = Settings(database="", alert_log="", user_agent="").shutdown_timeout
    assert seconds(service["TimeoutStopSec"][0]) >= default + 5
    # Watchdog: pings every half of WatchdogSec; a few seconds are plenty.
    assert seconds(service["WatchdogSec"][0]) >= 10
    assert service["RestartPreventExitStatus"] == ["2"]  # a config error: do not loop


def test_timer_starts_the_oneshot():
    timer = directives(UNITS / "scraper-once.timer")
    once = directives(UNITS / "scraper-once.service")
    assert timer["Unit"] == ["scraper-once.service"]
    assert once["Type"] == ["oneshot"]
    assert " --once " in once["ExecStart"][0]
