"""``opengap app``: serve the interactive dashboard (:mod:`sim.dashboard.page`) with Solara.

The server is Solara's Starlette app run by uvicorn in this process, in production mode,
with Solara's telemetry off. Solara's browser assets come from the ``solara-assets`` package
(installed with ``solara[assets]``), so the page loads without any network beyond the
loopback interface.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from pathlib import Path

from sim.inputs.scenario import ScenarioError, scenarios_dir

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
    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning")
