"""``opengap app``: serve the interactive dashboard (:mod:`sim.dashboard.page`) with Solara.

The server is Solara's Starlette app run by uvicorn in this process, in production mode,
with Solara's telemetry off. Solara's browser assets come from the ``solara-assets`` package
(installed with ``solara[assets]``), so the page loads without any network beyond the
loopback interface.

The server trusts no browser (:class:`GuardedApp`, wrapped around Solara's app):

* every request and websocket must name the served address in ``Host`` and, when a browser
  sends one, in ``Origin``: a page elsewhere that points a name it controls at this machine
  (DNS rebinding) or opens a websocket to it is refused (403);
* ``/_solara/cdn/...`` serves only files already on disk; the server never fetches from
  the internet (404 otherwise);
* malformed requests Solara would answer with a 500 (a close without ``session_id``) get
  a 400; every refusal is logged on the server with its reason and answered with one line.

Every widget value is checked on the server as well (:mod:`sim.dashboard.settings`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sim.inputs.scenario import ScenarioError, scenarios_dir

LOG = logging.getLogger("opengap.dashboard")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PAGE_MODULE = "sim.dashboard.page"


def scenario_name(arg: str) -> str:
    """The shipped scenario a command-line argument names (``baseline``,
    ``scenarios/baseline.toml``); ScenarioError (one line) if there is none, or it is bad."""
    from sim.dashboard.settings import load_named, shipped_scenarios

    path = Path(arg)
    name = path.stem if path.suffix == ".toml" else arg
    if path.suffix == ".toml" and path.resolve().parent != scenarios_dir().resolve():
        raise ScenarioError(f"{arg}: the dashboard offers the scenarios in {scenarios_dir()}; "
                            f"pass one of: {', '.join(shipped_scenarios()) or 'none'}")
    load_named(name)  # validates it, with the loader's one-line errors
    return name


def check_port_free(host: str, port: int) -> None:
    """Raise OSError (with a readable message) if ``host:port`` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port} "
                          f"({exc.strerror or exc}); choose another --port") from None


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Paths under which Solara answers a POST only with a ``session_id`` query parameter.
NEEDS_SESSION_ID = ("/_solara/api/close/", "/_solara/api/evict/", "/jupyter/api/kernels/")
CDN_PREFIX = "/_solara/cdn/"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(hostname, port) of a ``Host`` header value or an origin's netloc; None if malformed."""
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class GuardedApp:
    """An ASGI wrapper around Solara's app that refuses what a browser must not do: see the
    module docstring. ``host`` and ``port`` are the address being served."""

    def __init__(self, app: Any, host: str, port: int, cdn_dir: Path | None = None) -> None:
        self.app, self.port, self.cdn_dir = app, port, cdn_dir
        served = host.strip("[]").lower()
        self.wildcard = served in ("", "0.0.0.0", "::")
        names = {served}
        if self.wildcard or served in LOOPBACK_NAMES:
            names |= set(LOOPBACK_NAMES)
        if self.wildcard:
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self.names = names

    def host_allowed(self, value: str) -> bool:
        """``Host`` (or an origin's host) names this server: one of its names (a wildcard
        address accepts any IP literal too, never an arbitrary domain) and its port."""
        split = _split_host(value)
        if split is None:
            return False
        name, port = split
        if port is None:
            port = 80
        if port != self.port:
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def origin_allowed(self, origin: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and self.host_allowed(parts.netloc)

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) to refuse this request with, or None to pass it on."""
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        host = headers.get("host")
        if host is None or not self.host_allowed(host):
            return 403, f"Host {host!r} is not this server"
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            return 403, f"Origin {origin!r} is not this server"
        path = scope.get("path", "")
        if path.startswith(CDN_PREFIX) and not self.bundled(path[len(CDN_PREFIX):]):
            return 404, "not a bundled asset (this server fetches nothing from the internet)"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        needs_id = (scope["type"] == "websocket" and path.startswith("/jupyter/api/kernels/")
                    or scope.get("method") == "POST" and path.startswith(NEEDS_SESSION_ID))
        if needs_id and not query.get("session_id", [""])[0]:
            return 400, "session_id is missing"
        return None

    def bundled(self, rel: str) -> bool:
        """True if ``rel`` (under ``/_solara/cdn/``) is a file in the asset cache."""
        if self.cdn_dir is None or not rel:
            return False
        base = self.cdn_dir.resolve()
        target = (base / rel).resolve()
        if "/" not in rel.strip("/"):
            target = target / "__main.js"
        return target.is_file() and target.is_relative_to(base)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refused = self.problem(scope)
            if refused is not None:
                status, reason = refused
                LOG.warning("refused %s %s: %s", scope["type"], scope.get("path", "")[:200],
                            reason)
                await self._refuse(scope, receive, send, status, reason)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int,
                      reason: str) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # policy violation: 403
            return
        body = f"{status}: {reason}\n".encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def serve(scenario: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard, opening on ``scenario``, until interrupted."""
    os.environ["SOLARA_APP"] = PAGE_MODULE
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "false"
    os.environ["SERVER_NAME"] = host
    os.environ["SERVER_PORT"] = str(port)
    import uvicorn

    # Solara warns on every page load that its session cookie is not "secure" over plain
    # http; on a loopback address that is expected, and the warning buries the log.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")

    from sim.dashboard import page

    page.START["scenario"] = scenario
    sys.stderr.write(f"opengap dashboard on http://{host}:{port}/ (scenario '{scenario}'); "
                     "Ctrl-C stops it\n")
    sys.stderr.flush()
    import solara.server.settings as solara_settings
    from solara.server.starlette import app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    guarded = GuardedApp(app, host, port, cdn_dir=solara_settings.assets.proxy_cache_dir)
    uvicorn.run(guarded, host=host, port=port, log_level="warning")
