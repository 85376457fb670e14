"""Exactly once: an alert is stored with its change, then appended to the log; a process
killed (SIGKILL) between the two steps re-emits it on the next start, never twice."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO, article_html, read_alerts

# Runs the real CLI with one method replaced by a SIGKILL of the process itself.
KILLER = """
import os, signal, sys
import {module} as target
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
setattr(target.{owner}, {method!r}, die)
from scraper.cli import main
main(["--once", "--config", sys.argv[1]], prog_name="scrape")
"""

PARAS = [
    "The harbour master said the new pontoons will be in place before the regatta.",
    "Boat owners were told to move their moorings by the end of the month.",
]


@pytest.mark.parametrize(
    ("module", "owner", "method"),
    [
        # killed after the database commit, before the log append
        ("scraper.alerts", "AlertLog", "write_lines"),
        # killed after the log append, before the alert is marked as written
        ("scraper.store", "Store", "mark_emitted"),
    ],
)
def test_kill_between_commit_and_append_announces_once(
    server, write_config, tmp_path, module, owner, method
):
    server.expect_request("/p").respond_with_data(
        article_html("Pontoons", PARAS), content_type="text/html")
    config = write_config([{"name": "p", "url": server.url_for("/p")}])
    killer = KILLER.format(module=module, owner=owner, method=method)
    killed = subprocess.run([sys.executable, "-c", killer, str(config)], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    log = tmp_path / "alerts.jsonl"

    rerun = subprocess.run([sys.executable, "-m", "scraper", "--once", "--config",
                            str(config)], cwd=REPO, capture_output=True, text=True,
                           timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "unchanged" in rerun.stdout  # the change was stored before the kill
    alerts = read_alerts(log)
    assert [a["event"] for a in alerts] == ["page.new"]  # once
