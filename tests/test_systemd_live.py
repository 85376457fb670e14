"""scraper.service under a real systemd: started, READY, a page change in the alert log,
reloaded, its watchdog fed, `scrape status` on its database, stopped cleanly, its lines in
the journal; then scraper-once.service on the same state, and a bad watch list (exit 2,
no restart).

systemd (252 on Debian 12) is booted as PID 1 of new PID, mount, network, UTS and IPC
namespaces; ``tests/systemd_boot.sh`` first makes that harmless to the host (private /tmp,
/run, /dev, overlays on /etc and /var, every boot unit but journald masked; read it).
The program is installed the way the unit's comments say: a venv at /opt/scraper/.venv
made with Debian's /usr/bin/python3 (the unit's ProtectHome= hides a Python under /root,
PrivateTmp= one under /tmp), reused across runs while pyproject.toml is unchanged, with
this checkout reinstalled into it (no deps) when its code changed. The page it watches is
served on the namespace's own 127.0.0.1.

Root only; skipped with the reason elsewhere, but a failure under CI=true (``.ci/run``
installs what is missing, so a skip there would hide a broken setup).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import REPO, article_html

pytestmark = pytest.mark.slow

SYSTEMD = Path("/lib/systemd/systemd")
DEBIAN_PYTHON = Path("/usr/bin/python3")
VENV = Path("/opt/scraper/.venv")  # where systemd/scraper.service runs the program from
STAMP = VENV / "scraper-test.json"  # what this test installed there, to reuse it
BOOT = Path(__file__).with_name("systemd_boot.sh")
UNIT = REPO / "systemd" / "scraper.service"
CGROUP_FS = Path("/sys/fs/cgroup")
PORT = 8080  # on the namespace's own loopback: nothing else listens there
WATCHDOG_SEC = 4  # shortened from the unit's 60 s by a drop-in
ENV = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "PAGER": "cat",
       "LC_ALL": "C.UTF-8"}
T = TypeVar("T")

PARAS = [
    "The harbour bridge reopened to traffic on Monday after eight months of repairs.",
    "Engineers replaced the corroded cables and resurfaced the whole deck.",
    "The council said the final bill came in under the budget set last spring.",
]


def _missing() -> str | None:
    """Why this machine cannot run the test, or None."""
    if os.name != "posix" or not Path("/proc/self/ns/pid").exists():
        return "needs Linux namespaces"
    if os.geteuid() != 0:
        return "needs root (it boots systemd in private namespaces)"
    if not SYSTEMD.exists():
        return f"{SYSTEMD} is missing (apt-get install systemd)"
    for tool in ("unshare", "nsenter", "systemctl", "journalctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not DEBIAN_PYTHON.exists():
        return f"{DEBIAN_PYTHON} is missing (the unit's venv is built with it)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay filesystem"
    return None


@pytest.fixture(scope="module")
def able() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the real-systemd test, but: {reason}")
        pytest.skip(reason)


# --- the install ---------------------------------------------------------------------


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _sources() -> list[Path]:
    return sorted(p for p in (REPO / "scraper").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def _run(*args: str | Path, timeout: float = 600) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, env=ENV, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


def install(scratch: Path) -> Path:
    """/opt/scraper/.venv with this checkout in it; the path of its ``scrape``."""
    python_version = _run(DEBIAN_PYTHON, "-c", "import sys; print(sys.version)")
    deps_key = hashlib.sha256((_digest([REPO / "pyproject.toml"]) + python_version)
                              .encode()).hexdigest()
    code_key = _digest([REPO / "pyproject.toml", *_sources()])
    stamp = json.loads(STAMP.read_text()) if STAMP.exists() else None
    if VENV.exists() and stamp is None:
        pytest.fail(f"{VENV} exists but this test did not make it: leaving it alone")
    if stamp is not None and stamp.get("deps") != deps_key:
        shutil.rmtree(VENV)  # ours (stamped): dependencies changed, build it again
        stamp = None

    # pip builds in the source tree: give it a copy, not the checkout.
    source = scratch / "source"
    shutil.copytree(REPO / "scraper", source / "scraper",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    pip = VENV / "bin" / "pip"
    if stamp is None:
        _run(DEBIAN_PYTHON, "-m", "venv", VENV)
        STAMP.write_text(json.dumps({"made_by": "tests/test_systemd_live.py"}))
        # setuptools in the venv, so a reinstall needs no build environment of its own.
        _run(pip, "install", "-q", "setuptools>=68", "wheel")
        _run(pip, "install", "-q", "--no-build-isolation", source)
    elif stamp.get("code") != code_key:
        _run(pip, "install", "-q", "--no-deps", "--no-build-isolation", "--force-reinstall",
             source)
    STAMP.write_text(json.dumps({"made_by": "tests/test_systemd_live.py",
                                 "deps": deps_key, "code": code_key}))
    scrape = VENV / "bin" / "scrape"
    assert scrape.exists()
    # The unit's interpreter is Debian's, not a Python the sandbox would hide.
    assert (VENV / "bin" / "python3").resolve().parts[1] == "usr"
    return scrape


@pytest.fixture(scope="module")
def installed(able, tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("install"))


# --- the box: systemd as PID 1 of its own namespaces -----------------------------------


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0,
             explain: Callable[[], str] = str) -> T:
    """Poll until probe() gives something truthy; fail naming `what` after `timeout`
    (generous: a deadline for a hang, not a speed check), with what explain() says."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{explain()}")
        time.sleep(0.2)


@dataclass
class Box:
    pid: int  # the namespace's PID 1 (systemd), as the host sees it
    console: Path

    def enter(self) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--mount", "--pid", "--net", "--uts",
                "--ipc", "--"]

    def run(self, *args: str, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.enter(), *args], capture_output=True, text=True,
                                timeout=timeout, env=ENV, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def systemctl(self, *args: str) -> str:
        return self.run("systemctl", *args).stdout

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def path(self, inside: str) -> Path:
        """A path of the box's file tree, seen from the host (no symlinks on the way)."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def write(self, inside: str, text: str) -> None:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)

    def journal(self, unit: str = "scraper.service") -> str:
        return self.run("journalctl", f"--unit={unit}", "--output=cat", "--no-pager",
                        check=False).stdout

    def explain(self) -> str:
        """What a failure message needs: the unit's state and its journal's tail."""
        status = self.run("systemctl", "status", "--no-pager", "--lines=0", "scraper.service",
                          check=False).stdout
        return status + "\n" + self.journal()[-4000:]

    def read(self, inside: str) -> str:
        # Through the box's own `cat`: the path may cross its symlinks (/var/log/scraper).
        result = self.run("cat", inside, check=False)
        return result.stdout if result.returncode == 0 else ""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _our_cgroups(name: str) -> list[Path]:
    """Our cgroup in each hierarchy: /sys/fs/cgroup itself (v2) or one under it (v1)."""
    hierarchies = [CGROUP_FS, *CGROUP_FS.iterdir()]
    return [h / name.lstrip("/") for h in hierarchies if (h / name.lstrip("/")).is_dir()]


def _remove_cgroups(name: str) -> list[Path]:
    """rmdir the cgroups systemd made under ours, deepest first; what is left."""
    for _ in range(50):
        for top in _our_cgroups(name):
            below = sorted((p for p in top.rglob("*") if p.is_dir()),
                           key=lambda p: len(p.parts), reverse=True)
            for path in [*below, top]:
                with contextlib.suppress(OSError):  # not empty yet: next round
                    path.rmdir()
        if not _our_cgroups(name):
            return []
        time.sleep(0.1)  # processes of the killed namespace still being reaped
    return _our_cgroups(name)


def _end_namespace(unshare: subprocess.Popen[bytes]) -> None:
    """SIGKILL the namespace's PID 1, which kills every process in the namespace, then
    unshare (its parent: while unshare has not reaped it, its PID cannot be reused).
    Safe to call twice."""
    if unshare.poll() is None:
        for pid1 in _children(unshare.pid):  # systemd, or the shell that would become it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(unshare.pid, signal.SIGKILL)  # its own session (start_new_session)
    unshare.wait(timeout=60)


@pytest.fixture
def box(installed, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Box]:
    """A booted systemd in its own namespaces; killed (with all it runs) at the end."""
    # Our own canary in the host's /tmp: a booting systemd must never reach it.
    fd, canary_name = tempfile.mkstemp(prefix="scraper-systemd-canary-", dir="/tmp")
    os.write(fd, b"the host's /tmp\n")
    os.close(fd)
    canary = Path(canary_name)
    console = tmp_path / "console.log"
    console.touch()
    cgroup = f"/scraper-systemd-test-{os.getpid()}"
    command = ["unshare", "--fork", "--pid", "--mount", "--mount-proc", "--net", "--uts",
               "--ipc", "--propagation", "private",
               "sh", str(BOOT), os.readlink("/proc/self/ns/mnt"), cgroup, str(console), "--",
               str(SYSTEMD), "--system", "--unit=basic.target", "--show-status=no"]
    with open(tmp_path / "unshare.log", "wb") as out:
        unshare = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    # Ended in `finally` below, and by a finaliser and at exit should that be skipped.
    request.addfinalizer(lambda: _end_namespace(unshare))
    atexit.register(_end_namespace, unshare)
    pid1: int | None = None
    try:
        def booted_systemd() -> int | None:
            if unshare.poll() is not None:
                pytest.fail(f"the namespace ended at boot ({unshare.returncode}): "
                            + (tmp_path / "unshare.log").read_text(errors="replace")
                            + console.read_text(errors="replace"))
            for child in _children(unshare.pid):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{child}/exe") == str(SYSTEMD.resolve()):
                        return child
            return None

        pid1 = wait_for("systemd to exec as the namespace's PID 1", booted_systemd)
        the_box = Box(pid1, console)
        state = wait_for("the boot to finish", lambda: the_box.run(
            "systemctl", "is-system-running", "--wait", check=False).stdout.strip())
        assert canary.exists(), "the host's /tmp was touched by the boot"
        assert state == "running", (state, the_box.systemctl("--failed", "--all"),
                                    console.read_text(errors="replace"))
        yield the_box
    finally:
        if pid1 is not None and unshare.poll() is None:
            # The whole boot's journal, for reading after a failure.
            with contextlib.suppress(Exception):
                (tmp_path / "journal.log").write_text(Box(pid1, console).run(
                    "journalctl", "--boot", "--output=short-monotonic", "--no-pager",
                    check=False, timeout=30).stdout)
        _end_namespace(unshare)
        atexit.unregister(_end_namespace)
        left = _remove_cgroups(cgroup)
        survived = canary.exists()
        canary.unlink(missing_ok=True)
        assert survived, "the host's /tmp was emptied"
        assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def site(box: Box, tmp_path: Path) -> Iterator[Callable[[str, str], None]]:
    """A web server on the box's 127.0.0.1:PORT serving /run/site; put(name, html)."""
    root = "/run/site"
    box.write(f"{root}/index.html", "<!DOCTYPE html><title>site</title>")
    with open(tmp_path / "site.log", "wb") as err:
        server = subprocess.Popen(
            [*box.enter(), str(DEBIAN_PYTHON), "-u", "-m", "http.server", str(PORT),
             "--bind", "127.0.0.1", "--directory", root],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()  # printed once it listens
        assert "Serving HTTP" in line, (line, (tmp_path / "site.log").read_text())

        versions: dict[str, int] = {}

        def put(name: str, html: str) -> None:
            # Write a new file and rename it: the server never sends half a page. Each
            # version a second later than the last: Last-Modified counts whole seconds,
            # and the service asks with If-Modified-Since.
            staged = box.path(f"{root}/.{name}.tmp")
            box.write(f"{root}/.{name}.tmp", html)
            mtime = max(int(time.time()), versions.get(name, 0) + 1)
            os.utime(staged, (mtime, mtime))
            versions[name] = mtime
            staged.rename(box.path(f"{root}/{name}"))

        yield put
    finally:
        server.kill()  # nsenter; the server in the box dies with the box anyway
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


# --- the test --------------------------------------------------------------------------


def _config(*names: str) -> str:
    lines = ["[settings]", "host_delay = 0", "jitter = 0"]
    for name in names:
        lines += ["", "[[watch]]", f'name = "{name}"',
                  f'url = "http://127.0.0.1:{PORT}/{name}.html"', 'interval = "1s"']
    return "\n".join(lines) + "\n"


def _json_lines(text: str) -> list[dict[str, object]]:
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def test_the_service_under_a_real_systemd(box: Box, site, installed: Path):
    site("harbour.html", article_html("Harbour bridge reopens", PARAS))
    site("lifeboat.html", article_html("Lifeboat crew honoured", PARAS))
    box.write("/etc/scraper/scraper.toml", _config("harbour"))
    # Installed as the README says, with a test drop-in: a short watchdog, and the main
    # process's result recorded (a stopped unit may be unloaded before we can ask).
    box.write("/etc/systemd/system/scraper.service", UNIT.read_text(encoding="utf-8"))
    box.write("/etc/systemd/system/scraper.service.d/test.conf",
              "[Service]\n"
              f"WatchdogSec={WATCHDOG_SEC}s\n"
              "ExecStopPost=+/bin/sh -c 'echo \"$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS\""
              " >/run/scraper-stop-result'\n")
    box.systemctl("daemon-reload")
    loaded = box.show("scraper.service", "LoadState", "DropInPaths")
    assert loaded["LoadState"] == "loaded" and loaded["DropInPaths"].endswith("/test.conf")

    # start returns once the service said READY=1 (Type=notify).
    box.systemctl("start", "scraper.service")
    started = box.show("scraper.service", "ActiveState", "SubState", "MainPID", "StatusText",
                       "ActiveEnterTimestampMonotonic", "WatchdogUSec")
    assert (started["ActiveState"], started["SubState"]) == ("active", "running"), started
    assert started["WatchdogUSec"] == f"{WATCHDOG_SEC}s", started
    assert started["StatusText"].startswith("1 watches, 0 failing"), started
    main_pid = started["MainPID"]

    # The first check records the page; an edit reaches the alert log under LogsDirectory.
    log = "/var/log/scraper/alerts.jsonl"

    def alerts() -> list[dict[str, object]]:
        return _json_lines(box.read(log))

    wait_for("page.new in the alert log",
             lambda: [a for a in alerts() if a["event"] == "page.new"], explain=box.explain)
    site("harbour.html", article_html("Harbour bridge reopens",
                                      [*PARAS, "Tolls return in the spring."]))
    wait_for("the change in the alert log", lambda: [
        a for a in alerts()
        if a["watch"] == "harbour" and "+Tolls return in the spring." in str(a.get("diff"))],
        explain=box.explain)
    assert box.read("/var/log/private/scraper/alerts.jsonl") == box.read(log)

    # reload re-reads the watch list and the unit stays active throughout.
    box.write("/etc/scraper/scraper.toml", _config("harbour", "lifeboat"))
    box.systemctl("reload", "scraper.service")
    wait_for("the reload to be applied", lambda: box.show(
        "scraper.service", "StatusText")["StatusText"].startswith("2 watches"),
        explain=box.explain)
    wait_for("the added watch's first check", lambda: [
        a for a in alerts() if a["event"] == "page.new" and a["watch"] == "lifeboat"],
        explain=box.explain)
    assert box.show("scraper.service", "ActiveState")["ActiveState"] == "active"

    # The watchdog is fed: pings arrive (the timestamp moves on), and after three
    # WatchdogSec the service is the same process, never restarted (a missed ping is a
    # SIGABRT and a restart).
    def ping() -> int:
        return int(box.show("scraper.service",
                            "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])

    first = wait_for("a first watchdog ping", ping, explain=box.explain)
    wait_for("a later watchdog ping", lambda: ping() > first, explain=box.explain)
    since = int(started["ActiveEnterTimestampMonotonic"]) / 1e6
    wait_for("three watchdog periods to pass",
             lambda: time.clock_gettime(time.CLOCK_MONOTONIC) - since > 3 * WATCHDOG_SEC)
    after = box.show("scraper.service", "ActiveState", "MainPID", "NRestarts")
    assert after == {"ActiveState": "active", "MainPID": main_pid, "NRestarts": "0"}, after

    # `scrape status` as the README says: as root, pointed at the service's database.
    status = box.run("env", "STATE_DIRECTORY=/var/lib/scraper", str(installed), "status",
                     "--config", "/etc/scraper/scraper.toml")
    assert "harbour" in status.stdout and "lifeboat" in status.stdout, status.stdout
    assert "2 watches, 0 failing" in status.stdout, status.stdout

    # stop: SIGTERM, the drain, exit status 0, and systemd calls that a success.
    box.systemctl("stop", "scraper.service")
    assert box.show("scraper.service", "ActiveState")["ActiveState"] == "inactive"
    assert box.read("/run/scraper-stop-result").split() == ["success", "exited", "0"]

    # The operational log went to the journal, attributed to the unit.
    journal = box.journal()
    events = [line.get("event") for line in _json_lines(journal)]
    for event in ("daemon.started", "check.done", "config.reloaded", "daemon.stopping",
                  "daemon.stopped"):
        assert event in events, (event, journal[-3000:])
    assert "scraper.service: Deactivated successfully." in journal, journal[-3000:]

    # The timer's one-shot form, on the same watch list and state: `start` waits for it
    # and fails unless it succeeded; both pages are known (the service's database, handed
    # to another dynamic user) and unchanged.
    box.write("/etc/systemd/system/scraper-once.service",
              (REPO / "systemd" / "scraper-once.service").read_text(encoding="utf-8"))
    box.systemctl("daemon-reload")
    box.systemctl("start", "scraper-once.service")
    once = box.journal("scraper-once.service")
    assert "0 new, 0 changed, 2 unchanged, 0 failed" in once, once

    # A mistake in the watch list: start fails with exit status 2, and the unit is left
    # failed, not restarted every RestartSec (RestartPreventExitStatus=2).
    box.write("/etc/scraper/scraper.toml", _config("harbour") + 'intervall = "1s"\n')
    assert box.run("systemctl", "start", "scraper.service", check=False).returncode != 0
    failed = box.show("scraper.service", "ActiveState", "SubState", "Result", "NRestarts")
    assert failed == {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
                      "NRestarts": "0"}, failed
    assert box.read("/run/scraper-stop-result").split() == ["exit-code", "exited", "2"]
    said = [line for line in box.journal().splitlines()
            if "/etc/scraper/scraper.toml" in line and "intervall" in line]
    assert said, box.journal()[-3000:]  # the file and the key, as on a terminal
