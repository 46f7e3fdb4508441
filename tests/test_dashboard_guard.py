"""The dashboard trusts no browser (issue 18): Host and Origin must name the served address
(DNS rebinding), ``/_solara/cdn`` serves only bundled files and never fetches, malformed
requests get a 4xx, and every control value is checked on the server, with one plain line
for the page and the details only in the server's log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from sim.app import GuardedApp
from sim.dashboard.page import plain_error, set_checked
from sim.dashboard.settings import (
    NUMBER_CONTROLS,
    SettingsError,
    checked_changes,
    default_settings,
    load_named,
)
from sim.inputs.scenario import ScenarioError

PORT = 8765


def _scope(kind: str = "http", path: str = "/", host: str | None = f"127.0.0.1:{PORT}",
           origin: str | None = None, method: str = "GET", query: bytes = b"") -> dict:
    headers = []
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": kind, "path": path, "headers": headers, "method": method,
            "query_string": query}


def _call(app: GuardedApp, scope: dict) -> tuple[list[dict], bool]:
    """Run the guard on ``scope``; (messages sent, whether Solara's app was reached)."""
    sent: list[dict] = []
    reached = []

    async def inner(scope, receive, send):
        reached.append(True)

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    app.app = inner
    asyncio.run(app(scope, receive, send))
    return sent, bool(reached)


@pytest.fixture()
def guard(tmp_path: Path) -> GuardedApp:
    (tmp_path / "requirejs@2.3.6").mkdir()
    (tmp_path / "requirejs@2.3.6" / "require.js").write_text("//")
    return GuardedApp(None, "127.0.0.1", PORT, cdn_dir=tmp_path)


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"])
def test_the_served_address_passes(guard, host) -> None:
    sent, reached = _call(guard, _scope(host=host, origin=f"http://{host}"))
    assert reached and not sent


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9999",
                                  f"127.0.0.2:{PORT}", None, "a b:c"])
def test_a_foreign_host_is_refused(guard, host) -> None:
    sent, reached = _call(guard, _scope(host=host))
    assert not reached
    assert sent[0]["status"] == 403


@pytest.mark.parametrize("origin", ["http://evil.example", f"http://evil.example:{PORT}",
                                    "null", f"file://127.0.0.1:{PORT}"])
def test_a_foreign_origin_is_refused_for_pages_and_websockets(guard, origin) -> None:
    sent, reached = _call(guard, _scope(origin=origin))
    assert not reached and sent[0]["status"] == 403
    sent, reached = _call(guard, _scope("websocket", "/jupyter/api/kernels/k/channels",
                                        origin=origin, query=b"session_id=s"))
    assert not reached and sent == [{"type": "websocket.close", "code": 1008}]


def test_cdn_serves_only_bundled_files(guard) -> None:
    assert _call(guard, _scope(path="/_solara/cdn/requirejs@2.3.6/require.js"))[1]
    for path in ("/_solara/cdn/nosuch@1.0.0/x.js", "/_solara/cdn/../../etc/passwd",
                 "/_solara/cdn/"):
        sent, reached = _call(guard, _scope(path=path))
        assert not reached and sent[0]["status"] == 404


def test_malformed_requests_get_a_4xx(guard) -> None:
    sent, reached = _call(guard, _scope(path="/_solara/api/close/nosuch", method="POST"))
    assert not reached and sent[0]["status"] == 400
    sent, reached = _call(guard, _scope("websocket", "/jupyter/api/kernels/k/channels"))
    assert not reached and sent[-1]["type"] == "websocket.close"


def test_a_wildcard_address_accepts_ip_literals_never_names(tmp_path) -> None:
    guard = GuardedApp(None, "0.0.0.0", PORT)
    assert guard.host_allowed(f"10.0.0.5:{PORT}")
    assert guard.host_allowed(f"localhost:{PORT}")
    assert not guard.host_allowed(f"evil.example:{PORT}")


# --- control values ----------------------------------------------------------------------


@pytest.mark.parametrize("changes", [
    {"n_runs": 250},  # past the slider's 200
    {"n_runs": 2.5},
    {"distill_efficiency": "NaN-not-a-number"},
    {"distill_efficiency": float("nan")},
    {"grant_scale": float("inf")},
    {"seed": -1},
    {"ban_sovereign": "../../x/evil"},
    {"funding_shock_region": "MARS"},
    {"funding_shock_month": 45},
    {"ban_month": True},
    {"scenario": "baseline"},  # not a control: chosen through load_named
])
def test_bad_control_values_are_refused(changes) -> None:
    with pytest.raises(SettingsError) as info:
        checked_changes(changes, n_months=45)
    assert "\n" not in str(info.value)


def test_good_control_values_are_normalised() -> None:
    assert checked_changes({"n_runs": 200.0, "distill_efficiency": 1, "ban_sovereign": "CN",
                            "ban_month": 44}, n_months=45) == {
        "n_runs": 200, "distill_efficiency": 1.0, "ban_sovereign": "CN", "ban_month": 44}
    for name, (low, high, _, _) in NUMBER_CONTROLS.items():
        checked_changes({name: low}, 45)
        checked_changes({name: high}, 45)


@pytest.mark.parametrize("name", ["../../x/evil", "/etc/passwd", "nosuch", "baseline.toml"])
def test_a_scenario_choice_reaches_only_the_shipped_list(name) -> None:
    with pytest.raises(ScenarioError) as info:
        load_named(name)
    assert "not one of the shipped scenarios" in str(info.value)  # same line, exists or not


def test_a_refused_value_leaves_settings_and_shows_one_plain_line(caplog) -> None:
    base = load_named("baseline")
    settings = SimpleNamespace(value=default_settings("baseline", base))
    settings.set = lambda v: setattr(settings, "value", v)
    error = SimpleNamespace(value="")
    error.set = lambda v: setattr(error, "value", v)
    before = settings.value
    set_checked(settings, error, 45, distill_efficiency="NaN-not-a-number")
    assert settings.value == before
    assert error.value == "Refused: distill_efficiency: expected a number"
    assert "NaN-not-a-number" in caplog.text  # the details go to the server's log
    set_checked(settings, error, 45, distill_efficiency=0.5)
    assert settings.value.distill_efficiency == 0.5 and error.value == ""


def test_unexpected_errors_show_no_traceback(caplog) -> None:
    try:
        raise RuntimeError("/srv/secret/path.py line 3")
    except RuntimeError as exc:
        line = plain_error(exc)
    assert line == "internal error; the details are in the server's log"
    assert "/srv/secret/path.py" in caplog.text
