"""Shared fixtures: config files written on the fly, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SHARED = REPO.parent / "shared"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    raise TypeError(value)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config(watches=[{...}], **settings) -> path of a TOML file in tmp_path."""

    def write(watches: list[dict[str, object]], **settings: object) -> Path:
        settings.setdefault("database", str(tmp_path / "scraper.db"))
        settings.setdefault("alert_log", str(tmp_path / "alerts.jsonl"))
        # One local host serves every test page: no politeness pause between them.
        settings.setdefault("host_delay", 0)
        lines = ["[settings]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
        for watch in watches:
            lines += ["", "[[watch]]"]
            lines += [f"{k} = {toml_value(v)}" for k, v in watch.items()]
        path = tmp_path / "scraper.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def read_alerts(path: Path) -> list[dict[str, object]]:
    """Parse the alert log back, line by line; every line must be a whole JSON object."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def article_html(title: str, paragraphs: list[str]) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer><p>Copyright the Example Gazette</p></footer></body></html>"
    )


@pytest.fixture(scope="module")
def shared_server():
    """One real HTTP server on 127.0.0.1 a test module (threaded, so a slow handler
    blocks nothing else): stopping one costs half a second, its poll interval."""
    from pytest_httpserver import HTTPServer

    httpd = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    # Unregistered paths (robots.txt above all) are 404 like on a real site, not 500.
    httpd.no_handler_status_code = 404
    httpd.start()
    yield httpd
    httpd.stop()


@pytest.fixture
def server(shared_server):
    """The module's server, emptied (handlers and request log) after each test."""
    yield shared_server
    shared_server.clear()
    shared_server.no_handler_status_code = 404  # clear() puts back its default, 500
