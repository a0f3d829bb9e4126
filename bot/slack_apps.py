"""The Slack face of apps, checks and backups: commands, the deploy form, Slack files as sources.

A Slack file given as a deploy source (its ID or permalink) is read with `files.info` and downloaded with the
bot token; the token is only ever sent to Slack's own file host.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot import app_views, grammar, insight_views, views
from bot import slack_messages as messages
from handlers import errors
from handlers.actors import Actor, Origin
from handlers.apps import ACTION_UNDEPLOY_CONFIRMED, AppService, DeployRequest
from handlers.backups import BackupService
from handlers.checks import CheckService
from providers.kube import fetch
from providers.kube.errors import FetchRefused
from providers.kube.manifests import MAX_MANIFEST_BYTES

log = logging.getLogger(__name__)

SLACK_FILE_HOSTS = frozenset({"files.slack.com"})


class SlackAppsFace:
    """Runs the apps, check and backup commands for the Slack face (`face` posts and delivers)."""

    def __init__(
        self,
        face,
        *,
        apps: AppService,
        backups: BackupService,
        checks: CheckService,
        bot_token: str,
        slack_api_url: str,
    ):
        self.face = face
        self.apps = apps
        self.backups = backups
        self.checks = checks
        self._token = bot_token
        # Tests serve Slack on loopback; the token may go to that host too, and only to it.
        api_host = urlsplit(slack_api_url).netloc.lower()
        self._file_hosts = SLACK_FILE_HOSTS | {api_host}
        self._policy = fetch.FetchPolicy(allow_hosts=frozenset({api_host}), max_bytes=MAX_MANIFEST_BYTES)

    # -- commands ------------------------------------------------------------------------------------

    def run(self, actor: Actor, command: object, trigger_id: str, key: str) -> None:
        origin = Origin(channel_id=actor.channel_id)
        now = self.face.now()
        match command:
            case grammar.DeployCmd() as c:
                self._deploy(actor, c, trigger_id, key, origin)
            case grammar.UndeployCmd(cluster=cluster, app=app, version=None):
                self.face.ephemeral(
                    actor, views.confirmation(self.apps.confirm_undeploy(actor, cluster, app))
                )
            case grammar.UndeployCmd(cluster=cluster, app=app, version=version):
                self.apps.undeploy(actor, cluster, app, version, idempotency_key=key, origin=origin)
            case grammar.AppsCmd(cluster=cluster):
                self.face.ephemeral(actor, app_views.app_list(self.apps.apps(actor, cluster), now))
            case grammar.CheckCmd(cluster=cluster):
                reply = self.checks.check(actor, cluster)
                blocks, detail = insight_views.check_blocks(reply.cluster, reply.report)
                self.face.ephemeral(actor, {"text": f"Check of {reply.cluster}", "blocks": blocks})
                if detail is not None:
                    self._send_detail(actor, reply.cluster, detail)
            case grammar.BackupCmd(cluster=cluster, namespace=namespace):
                self.backups.backup(actor, cluster, namespace=namespace, idempotency_key=key, origin=origin)
            case grammar.BackupsCmd(cluster=cluster):
                self.face.ephemeral(actor, app_views.backup_list(self.backups.backups(actor, cluster), now))
            case grammar.RestoreCmd(cluster=cluster, backup=backup, namespace=namespace, overwrite=overwrite):
                self.backups.restore(
                    actor,
                    cluster,
                    backup,
                    namespace=namespace,
                    overwrite=overwrite,
                    idempotency_key=key,
                    origin=origin,
                )

    def _send_detail(self, actor: Actor, cluster: str, detail: str) -> None:
        """The full check report, too long for a message, as a file in the requester's DM."""
        dm = self.face.client.conversations_open(users=actor.user_id)["channel"]["id"]
        self.face.client.files_upload_v2(
            channel=dm,
            content=detail,
            filename=f"{cluster}-check.txt",
            title=f"Full check of {cluster}",
            initial_comment=f"The full check of `{cluster}` (every node, pod and warning).",
        )

    def _deploy(self, actor: Actor, c: grammar.DeployCmd, trigger_id: str, key: str, origin: Origin) -> None:
        if c.source_kind is None:
            meta = json.dumps({"channel": actor.channel_id})
            app = (c.app or "") + (f"@{c.version}" if c.version else "")
            self.face.client.views_open(
                trigger_id=trigger_id,
                view=app_views.deploy_modal(private_metadata=meta, cluster=c.cluster or "", app=app),
            )
            return
        if c.source_kind == "path" or (
            c.chart is not None and not c.chart.startswith(("oci://", "http://", "https://"))
        ):
            raise errors.InvalidRequest(messages.SLACK_NO_PATHS, hint=messages.HINT_SLACK_SOURCES)
        manifest = label = None
        url = c.source if c.source_kind == "url" else None
        if c.source_kind == "slack_file":
            label, manifest = self.read_slack_file(c.slack_file_id or "")
            url = None
        values, values_urls = [], []
        for item in c.values:
            file_id = grammar.slack_file_id(item)
            if file_id is not None:
                values.append(self.read_slack_file(file_id)[1])
            elif item.startswith(("http://", "https://")):
                values_urls.append(item)
            else:
                raise errors.InvalidRequest(messages.SLACK_NO_PATHS, hint=messages.HINT_SLACK_SOURCES)
        assert c.cluster is not None and c.app is not None
        request = DeployRequest(
            cluster=c.cluster,
            app=c.app,
            version=c.version,
            namespace=c.namespace,
            manifest=manifest,
            source_label=label or "manifest",
            url=url,
            chart=c.chart,
            chart_version=c.chart_version,
            values=tuple(values),
            values_urls=tuple(values_urls),
            set_values=c.set_values,
            timeout=c.timeout,
        )
        self.apps.deploy(actor, request, idempotency_key=key, origin=origin)

    def read_slack_file(self, file_id: str) -> tuple[str, str]:
        """(label, text) of a file shared in Slack, via `files.info` and an authenticated download."""
        try:
            info = self.face.client.files_info(file=file_id)["file"]
        except SlackApiError as e:
            raise errors.NotFound(
                messages.slack_file_unreadable(file_id, str(e.response.get("error"))),
                hint=messages.HINT_SLACK_FILE,
            ) from None
        size = int(info.get("size") or 0)
        if size > MAX_MANIFEST_BYTES:
            raise errors.InvalidRequest(
                messages.slack_file_too_big(file_id, size), hint=messages.HINT_SLACK_SOURCES
            )
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        if urlsplit(url).netloc.lower() not in self._file_hosts:
            raise errors.InvalidRequest(messages.slack_file_unreadable(file_id, "unexpected download host"))
        try:
            data = fetch.fetch(url, self._policy, headers={"Authorization": f"Bearer {self._token}"})
        except FetchRefused as e:
            raise errors.InvalidRequest(e.message, hint=messages.HINT_SLACK_FILE) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidRequest(
                messages.slack_file_not_text(file_id), hint=messages.HINT_SLACK_SOURCES
            ) from None
        return f"file {info.get('name') or file_id}", text

    # -- buttons and the form ------------------------------------------------------------------------

    def run_action(self, actor: Actor, action_id: str, value: str, key: str) -> bool:
        """Handle an app button; False when the action is not one of ours."""
        if action_id != ACTION_UNDEPLOY_CONFIRMED:
            return False
        cluster, _, app = value.partition(":")
        self.apps.undeploy(
            actor, cluster, app, None, idempotency_key=key, origin=Origin(channel_id=actor.channel_id)
        )
        return True


def register_app_listeners(app: App, face, apps_face: SlackAppsFace, submit: Callable) -> None:
    """The deploy form's submission (the command and buttons go through the face's shared listeners)."""

    @app.view(app_views.DEPLOY_CALLBACK)
    def on_deploy(ack, body: dict, view: dict) -> None:
        parsed = app_views.parse_deploy_submission(view["state"]["values"])

        def record(actor: Actor, key: str, origin: Origin):
            assert isinstance(parsed, app_views.DeployInput)
            request = DeployRequest(
                cluster=parsed.cluster,
                app=parsed.app,
                version=parsed.version,
                namespace=parsed.namespace,
                manifest=parsed.manifest,
                source_label="pasted YAML",
            )
            return apps_face.apps.deploy(actor, request, idempotency_key=key, origin=origin)

        submit(ack, body, view, parsed, record, field_of=_deploy_field)


def _deploy_field(e: errors.UserError) -> str:
    text = e.message.lower()
    if "cluster" in text and "manifest" not in text and "document" not in text:
        return "cluster"
    if "namespace" in text and "document" not in text:
        return "namespace"
    return "manifest"
