"""`kaas shell`: the same `/kaas …` lines as Slack, typed in a terminal or piped in, answered as text.

The local user is an admin of a local workspace. Buttons become numbered choices: a following line that is
a bare number picks one. Progress is printed as it arrives, one line per step; on a terminal the prompt and
what was typed are drawn again below it. At the end of piped input the shell waits for the operations it
started before exiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from bot import grammar, insight_views, messages, text
from bot.files import write_private
from handlers import errors
from handlers import messages as handler_messages
from handlers.actors import Actor, Origin
from handlers.apps import ACTION_UNDEPLOY_CONFIRMED, AppService, DeployRequest
from handlers.backups import BackupService
from handlers.checks import CheckService
from handlers.clusters import (
    ACTION_CANCEL,
    ACTION_DELETE,
    ACTION_DELETE_CONFIRMED,
    ACTION_INFO,
    ACTION_KUBECONFIG,
    MAX_KUBECONFIG_BYTES,
    ClusterService,
)
from handlers.outbox import SinkDeliverer
from handlers.replies import Button, Notice, OperationAccepted, OperationUpdate
from providers.kube.manifests import MAX_MANIFEST_BYTES

log = logging.getLogger(__name__)

LOCAL_TEAM = "local"
SHELL_NEEDS_SOURCE = (
    "in the shell, give what to deploy: a file path, a URL or `--chart`, "
    "e.g. `/kaas deploy CLUSTER web@v1 ./web.yaml`."
)


PROMPT = "kaas> "


class Prompt:
    """Whether the shell waits at its prompt, and what was typed so far: progress printed meanwhile must
    put both back, or the user types blind under a line of someone else's output."""

    def __init__(self) -> None:
        self.waiting = False

    def pending(self) -> str:
        if not self.waiting:
            return ""
        try:
            import readline
        except ImportError:  # pragma: no cover - every Linux Python has readline
            return PROMPT
        return PROMPT + readline.get_line_buffer()


class TextSink:
    """Prints operation progress, one line per step; on a terminal the prompt is drawn again below it."""

    def __init__(self, out: TextIO, *, live: bool, prompt: Prompt | None = None):
        self._out = out
        self._live = live
        self._prompt = prompt or Prompt()
        self._lock = threading.Lock()
        self._last: dict[int, str] = {}
        self.on_final: Callable[[OperationUpdate], None] = lambda update: None

    def publish(self, update: OperationUpdate) -> None:
        line = text.update(update)
        with self._lock:
            if self._last.get(update.operation_id) == line:
                return
            self._last[update.operation_id] = line
            if self._live:
                # Clear the prompt line, print the step, then draw the prompt and the typed text again.
                self._out.write("\r\x1b[2K" + line + "\n" + self._prompt.pending())
            else:
                self._out.write(line + "\n")
            self._out.flush()
        if update.final:
            self.on_final(update)


class Shell:
    """Reads command lines, calls the handlers, prints the replies."""

    def __init__(
        self,
        clusters: ClusterService,
        *,
        out: TextIO,
        kubeconfig_dir: Path,
        actor: Actor | None = None,
        apps: AppService | None = None,
        backups: BackupService | None = None,
        checks: CheckService | None = None,
        audience: str = "shell",
    ):
        self.clusters = clusters
        self.apps = apps
        self.backups = backups
        self.checks = checks
        self.out = out
        self.kubeconfig_dir = kubeconfig_dir
        self.actor = actor or Actor(user_id=getpass.getuser() or "local", team_id=LOCAL_TEAM, is_admin=True)
        self.origin = Origin(audience=audience)
        """Messages of the operations this shell starts are delivered to this shell (see `run`)."""
        self._choices: list[Button] = []
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._settled = threading.Condition()

    def say(self, message: str) -> None:
        with self._lock:
            self.out.write(message.rstrip("\n") + "\n")
            self.out.flush()

    def offer(self, buttons: tuple[Button, ...]) -> None:
        """Remember the buttons just shown, so a bare number on the next line picks one."""
        self._choices = list(buttons)

    def on_final(self, update: OperationUpdate) -> None:
        if update.buttons:
            self.offer(update.buttons)
        with self._settled:
            self._pending.discard(update.operation_id)
            self._settled.notify_all()

    def _started(self, reply: OperationAccepted) -> None:
        if not reply.duplicate:
            with self._settled:
                self._pending.add(reply.operation_id)
        self.say(text.accepted(reply))

    def wait_started(self, timeout: float = 3600.0) -> bool:
        """Block until every operation this shell started has reported its end (used when piped)."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._pending, timeout=timeout)

    # -- one line ------------------------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Answer one input line; never raises for bad input."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        if line.isdigit() and len(line) < 4:
            self._pick(int(line))
            return
        self._choices = []
        command = grammar.parse(line)
        try:
            self._dispatch(command)
        except errors.UserError as e:
            self.say(text.notice(_error(e)))
        except Exception:
            self._unexpected()

    def _pick(self, number: int) -> None:
        if not self._choices:
            self.say("There is nothing to choose right now; type a /kaas command.")
            return
        if not 1 <= number <= len(self._choices):
            self.say(f"Choose a number from 1 to {len(self._choices)}.")
            return
        button = self._choices[number - 1]
        self._choices = []
        try:
            self._press(button)
        except errors.UserError as e:
            self.say(text.notice(_error(e)))
        except Exception:
            self._unexpected()

    def _unexpected(self) -> None:
        reference = uuid.uuid4().hex[:10]
        log.exception("shell command failed (reference %s)", reference)
        self.say(
            text.notice(
                Notice(
                    handler_messages.request_failed(reference),
                    level="error",
                    hint=handler_messages.HINT_REFERENCE,
                )
            )
        )

    def _press(self, button: Button) -> None:
        name = button.value
        if button.action_id == ACTION_KUBECONFIG:
            self._kubeconfig(name)
        elif button.action_id == ACTION_INFO:
            self._info(name)
        elif button.action_id == ACTION_DELETE:
            self._confirm_delete(name)
        elif button.action_id == ACTION_DELETE_CONFIRMED:
            self._started(self.clusters.delete(self.actor, name, idempotency_key=_key(), origin=self.origin))
        elif button.action_id == ACTION_UNDEPLOY_CONFIRMED and self.apps is not None:
            cluster, _, app = name.partition(":")
            self._started(
                self.apps.undeploy(self.actor, cluster, app, None, idempotency_key=_key(), origin=self.origin)
            )
        elif button.action_id == ACTION_CANCEL:
            self.say("Cancelled.")

    def _dispatch(self, command: object) -> None:
        match command:
            case grammar.ParseError(message=message, usage=usage):
                self.say(f"error: {message}\nusage: {usage}")
            case grammar.Help(topic=topic):
                self.say(messages.help_text(topic))
            case grammar.CreateCmd(name=None):
                self.say(text.create_form(self.clusters.create_form(self.actor)))
            case grammar.CreateCmd() as c:
                reply = self.clusters.create(
                    self.actor,
                    name=c.name,
                    profile=c.provider,
                    nodes=c.nodes,
                    version=c.version,
                    machine_type=c.machine_type,
                    idempotency_key=_key(),
                    origin=self.origin,
                )
                self._started(reply)
            case grammar.ListCmd(all=everyone, page=page):
                self.say(
                    text.cluster_list(self.clusters.list(self.actor, everyone=everyone, page=page), _now())
                )
            case grammar.InfoCmd(name=name):
                self._info(name)
            case grammar.KubeconfigCmd(name=name):
                self._kubeconfig(name)
            case grammar.DeleteCmd(name=name):
                self._confirm_delete(name)
            case grammar.ScaleCmd(name=name, nodes=nodes):
                self._started(
                    self.clusters.scale(
                        self.actor, name, nodes=nodes, idempotency_key=_key(), origin=self.origin
                    )
                )
            case grammar.CancelCmd(name=name):
                self.say(text.notice(self.clusters.cancel(self.actor, name)))
            case grammar.RegisterCmd(name=name, kubeconfig_path=path):
                self._register(name, path)
            case _:
                self._dispatch_apps(command)

    def _dispatch_apps(self, command: object) -> None:
        """Apps, insight and backups: the services a shell built without them (tests) does not offer."""
        apps, backups, checks = self.apps, self.backups, self.checks
        if apps is None or backups is None or checks is None:
            self.say("error: this shell was started without apps, checks and backups.")
            return
        match command:
            case grammar.DeployCmd() as c:
                self._deploy(apps, c)
            case grammar.UndeployCmd(cluster=cluster, app=app, version=None):
                reply = apps.confirm_undeploy(self.actor, cluster, app)
                self.say(text.confirmation(reply))
                self.offer(reply.buttons)
            case grammar.UndeployCmd(cluster=cluster, app=app, version=version):
                self._started(
                    apps.undeploy(
                        self.actor, cluster, app, version, idempotency_key=_key(), origin=self.origin
                    )
                )
            case grammar.AppsCmd(cluster=cluster):
                self.say(text.app_list(apps.apps(self.actor, cluster), _now()))
            case grammar.CheckCmd(cluster=cluster):
                reply = checks.check(self.actor, cluster)
                self.say(insight_views.check_text(reply.cluster, reply.report))
            case grammar.BackupCmd(cluster=cluster, namespace=namespace):
                self._started(
                    backups.backup(
                        self.actor, cluster, namespace=namespace, idempotency_key=_key(), origin=self.origin
                    )
                )
            case grammar.BackupsCmd(cluster=cluster):
                self.say(text.backup_list(backups.backups(self.actor, cluster), _now()))
            case grammar.RestoreCmd(cluster=cluster, backup=backup, namespace=namespace, overwrite=overwrite):
                reply = backups.restore(
                    self.actor,
                    cluster,
                    backup,
                    namespace=namespace,
                    overwrite=overwrite,
                    idempotency_key=_key(),
                    origin=self.origin,
                )
                self._started(reply)

    def _deploy(self, apps: AppService, c: grammar.DeployCmd) -> None:
        if c.cluster is None or c.app is None or c.source_kind is None:
            self.say(f"error: {SHELL_NEEDS_SOURCE}\nusage: " + messages.usage("deploy"))
            return
        if c.source_kind == "slack_file":
            self.say("error: Slack files can only be deployed from Slack; give a local path or a URL.")
            return
        manifest = label = None
        if c.source_kind == "path":
            manifest = self._read(c.source or "", MAX_MANIFEST_BYTES)
            if manifest is None:
                return
            label = f"file {Path(c.source or '').name}"
        values, values_urls = [], []
        for item in c.values:
            if item.startswith(("http://", "https://")):
                values_urls.append(item)
                continue
            content = self._read(item, MAX_MANIFEST_BYTES)
            if content is None:
                return
            values.append(content)
        request = DeployRequest(
            cluster=c.cluster,
            app=c.app,
            version=c.version,
            namespace=c.namespace,
            manifest=manifest,
            source_label=label or "manifest",
            url=c.source if c.source_kind == "url" else None,
            chart=c.chart,
            chart_version=c.chart_version,
            values=tuple(values),
            values_urls=tuple(values_urls),
            set_values=c.set_values,
            timeout=c.timeout,
            local_paths=True,
        )
        self._started(apps.deploy(self.actor, request, idempotency_key=_key(), origin=self.origin))

    def _read(self, path: str, limit: int) -> str | None:
        """A local file's text, read at most one byte past `limit`; None (after saying why) if unusable."""
        file = Path(path).expanduser()
        try:
            if not file.is_file():
                self.say(f"error: cannot read {file}: not a regular file (or no such file)")
                return None
            with file.open("rb") as f:
                data = f.read(limit + 1)
            if len(data) > limit:
                self.say(
                    f"error: {file} is larger than {limit // (1024 * 1024)} MiB; split it or deploy by URL."
                )
                return None
            return data.decode()
        except (OSError, UnicodeDecodeError) as e:
            self.say(f"error: cannot read {file}: {getattr(e, 'strerror', None) or e}")
            return None

    def _info(self, name: str) -> None:
        reply = self.clusters.info(self.actor, name)
        self.say(text.details(reply, _now()))
        self.offer(reply.buttons)

    def _kubeconfig(self, name: str) -> None:
        credential = self.clusters.kubeconfig(self.actor, name)
        path = self.kubeconfig_dir / credential.filename
        write_private(path, credential.content)
        self.say(f"Kubeconfig for `{name}` written (mode 0600):")
        self.say(str(path))

    def _confirm_delete(self, name: str) -> None:
        reply = self.clusters.confirm_delete(self.actor, name)
        self.say(text.confirmation(reply))
        self.offer(reply.buttons)

    def _register(self, name: str, path: str | None) -> None:
        if not path:
            self.say(
                "error: in the shell, give the kubeconfig as a file\nusage: " + messages.usage("register")
            )
            return
        file = Path(path).expanduser()
        try:
            if not file.exists():
                self.say(f"error: cannot read {file}: no such file")
                return
            if not file.is_file():
                self.say(f"error: {file} is not a regular file; give the path of a kubeconfig file.")
                return
            with file.open("rb") as f:
                # Read one byte past the limit instead of trusting st_size (devices and pipes report 0).
                data = f.read(MAX_KUBECONFIG_BYTES + 1)
            if len(data) > MAX_KUBECONFIG_BYTES:
                self.say(f"error: {file} is larger than 64 KiB; that is not a kubeconfig.")
                return
            content = data.decode()
        except (OSError, UnicodeDecodeError) as e:
            self.say(f"error: cannot read {file}: {getattr(e, 'strerror', None) or e}")
            return
        self._started(
            self.clusters.register(
                self.actor, name=name, kubeconfig=content, idempotency_key=_key(), origin=self.origin
            )
        )


def _key() -> str:
    return f"shell:{uuid.uuid4()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _error(e: errors.UserError) -> Notice:
    return Notice(e.message, level="error", hint=e.hint)


def read_lines(
    stream: TextIO, *, interactive: bool, history: Path | None, prompt: Prompt | None = None
) -> Iterator[str]:
    """Input lines; on a terminal with readline editing and a history file."""
    prompt = prompt or Prompt()
    if not interactive:
        yield from stream
        return
    try:
        import readline
    except ImportError:  # pragma: no cover - every Linux Python has readline
        readline = None
    if readline is not None and history is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    try:
        while True:
            prompt.waiting = True
            try:
                line = input(PROMPT)
            except EOFError:
                return
            finally:
                prompt.waiting = False
            yield line
    finally:
        if readline is not None and history is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)


def wait_for_operations(busy: Callable[[], bool], *, timeout: float = 3600.0, interval: float = 0.2) -> bool:
    """Block until no operation is queued or running; False on timeout."""
    deadline = time.monotonic() + timeout
    while busy():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def run(core, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """The shell's main loop over an assembled core (see bot.runtime)."""
    interactive = stdin.isatty() and out.isatty()
    prompt = Prompt()
    sink = TextSink(out, live=interactive, prompt=prompt)
    audience = f"shell:{uuid.uuid4().hex[:12]}"
    core.deliver_with(SinkDeliverer(sink), audience=audience, min_interval=0.0)
    shell = Shell(
        core.clusters,
        out=out,
        kubeconfig_dir=core.settings.state_dir / "kubeconfigs",
        apps=core.apps,
        backups=core.backups,
        checks=core.checks,
        audience=audience,
    )
    sink.on_final = shell.on_final
    core.start()
    if interactive:
        shell.say("kaas shell: type /kaas help, Ctrl-D to leave.")
    history = core.settings.state_dir / "shell_history"
    for line in read_lines(stdin, interactive=interactive, history=history, prompt=prompt):
        shell.handle(line)
        if not interactive:
            # A piped script reads like a session at the keyboard: each line sees the previous one done.
            shell.wait_started()
    if not wait_for_operations(core.runner.busy):
        shell.say("Stopped waiting for running operations; they resume next time kaas starts.")
    return 0
