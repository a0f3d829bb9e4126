"""The `kaas` command line.

- `kaas shell`: the `/kaas` commands in a terminal (or piped), on the zero-credential default (SQLite +
  sandbox under KAAS_HOME).
- `kaas db upgrade`: apply database migrations (they also run at every start).
- `kaas sandbox`: just the simulated control plane with a demo cluster, for poking at it with kubectl.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from bot import logs
from bot.files import write_private
from providers.sandbox import versions
from providers.sandbox.sandbox import Sandbox, SandboxError, SandboxSettings


def kaas_home() -> Path:
    """The state directory: `KAAS_HOME`, default `~/.kaas`."""
    return Path(os.environ.get("KAAS_HOME") or Path.home() / ".kaas").expanduser()


def _sandbox(args: argparse.Namespace) -> int:
    home = kaas_home()
    # Handlers go in first: a supervisor may signal as soon as it reads the banner below.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(SandboxSettings(state_dir=home / "sandbox", port=args.port)).start()
    try:
        existing = [c for c in sandbox.list_clusters() if c.name == args.cluster]
        info = (
            existing[0]
            if existing
            else sandbox.create_cluster(args.cluster, nodes=args.nodes, version=args.version)
        )
    except SandboxError as e:
        sandbox.close()
        print(f"kaas: {e}", file=sys.stderr)
        return 2
    kubeconfig = home / "kubeconfigs" / f"{info.name}.yaml"
    write_private(kubeconfig, sandbox.kubeconfig(info.id))
    print(f"sandbox serving {len(sandbox.list_clusters())} cluster(s) at {sandbox.url}")
    print(f"cluster {info.name}: Kubernetes {info.version}, {info.node_count} nodes, {info.endpoint}")
    print("kubeconfig (mode 0600):")
    print(kubeconfig)
    print(f"try: kubectl --kubeconfig {kubeconfig} get nodes")
    print("press Ctrl-C to stop (state is kept under", home / "sandbox", ")", flush=True)
    stop.wait()
    sandbox.close()
    return 0


def _settings():
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise SystemExit(f"kaas: invalid configuration: {problems}") from e


def _core(settings):
    from bot.runtime import build_core
    from handlers.profiles import ProfileError
    from storage.errors import StorageError

    try:
        return build_core(settings)
    except (ProfileError, StorageError) as e:
        raise SystemExit(f"kaas: {e}") from e


def _shell(args: argparse.Namespace) -> int:
    from bot import shell

    core = _core(_settings())
    try:
        return shell.run(core)
    finally:
        core.close()


def _serve(args: argparse.Namespace) -> int:
    from bot.server import build_http_app, build_slack, web_client
    from providers.sandbox.server import ServerThread

    settings = _settings()
    problems = settings.slack_problems()
    if problems:
        raise SystemExit("kaas serve: " + "; ".join(problems) + ". See manifest.yml to create the Slack app.")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    core = _core(settings)
    client = web_client(core)
    bolt, _ = build_slack(core, client)
    core.start()
    socket_mode = None
    server = ServerThread(build_http_app(core, bolt), host=args.host, port=args.port)
    try:
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            socket_mode = SocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
            socket_mode.connect()
        try:
            port = server.start()
        except OSError as e:
            raise SystemExit(f"kaas serve: cannot listen on {args.host}:{args.port}: {e.strerror}") from e
        mode = "Socket Mode" if socket_mode else f"POST http://{args.host}:{port}/slack/events"
        logging.getLogger("kaas").warning("kaas serving Slack via %s; health on /healthz", mode)
        stop.wait()
    finally:
        # A graceful stop releases the runner's leases so another replica resumes its operations at once.
        server.stop()
        if socket_mode is not None:
            socket_mode.close()
        core.close()
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from storage import engine as storage_engine
    from storage import migrations

    settings: Settings = _settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    engine = storage_engine.make_engine(
        settings.database_url or storage_engine.default_database_url(settings.state_dir)
    )
    try:
        print(f"database at revision {migrations.upgrade(engine)}")
    finally:
        engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaas", description="Kubernetes-as-a-Service from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sv = sub.add_parser("serve", help="run the Slack app (HTTP events, or Socket Mode with SLACK_APP_TOKEN)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    sv.set_defaults(func=_serve)
    sh = sub.add_parser("shell", help="type /kaas commands in a terminal (or pipe them in)")
    sh.set_defaults(func=_shell)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply database migrations").set_defaults(func=_db_upgrade)
    sb = sub.add_parser("sandbox", help="run the local simulated Kubernetes control plane")
    sb.add_argument("--port", type=int, default=0, help="HTTPS port (default: remembered, else any free)")
    sb.add_argument("--cluster", default="demo", help="name of the cluster to create if missing")
    sb.add_argument("--nodes", type=int, default=3, help="node count of a new cluster")
    sb.add_argument(
        "--version",
        default=versions.DEFAULT_VERSION,
        choices=versions.supported(),
        help="Kubernetes version of a new cluster",
    )
    sb.set_defaults(func=_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kaas` console script."""
    logs.configure(os.environ.get("KAAS_LOG_FORMAT", "text").strip().lower() or "text")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
