"""The Slack face: Bolt listeners that parse, call one handler, and render the reply.

Listeners acknowledge first (Slack's 3-second rule) and do the rest after; only modal submissions call the
handler before acknowledging, because validation errors must travel back in the acknowledgement itself
(and recording an operation is a database write, not provider work). Permission checks and audit live in
the handlers, not here. Idempotency keys come from what Slack repeats on a retry or a double click:
the command's trigger_id, the modal's view id, the clicked message's ts.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import grammar, messages, slack_messages, views
from bot.slack_apps import SlackAppsFace, register_app_listeners
from handlers import errors, observe
from handlers import messages as handler_messages
from handlers.actors import Actor, Origin
from handlers.apps import ACTION_UNDEPLOY_CONFIRMED
from handlers.clusters import (
    ACTION_CANCEL,
    ACTION_CANCEL_OPERATIONS,
    ACTION_DELETE,
    ACTION_DELETE_CONFIRMED,
    ACTION_INFO,
    ACTION_KUBECONFIG,
    ClusterService,
)
from handlers.replies import Credential, Notice

log = logging.getLogger(__name__)

CREATE_CALLBACK = views.CREATE_CALLBACK
REGISTER_CALLBACK = views.REGISTER_CALLBACK
LIST_PAGE_ACTION = views.LIST_PAGE_ACTION


class SlackFace:
    """Everything the listeners share: the services, the Web API client and the progress notifier."""

    def __init__(
        self,
        *,
        clusters: ClusterService,
        client: WebClient,
        is_admin: Callable[[str], bool],
        now: Callable,
    ):
        self.apps_face: SlackAppsFace | None = None
        self.clusters = clusters
        self.client = client
        self.is_admin = is_admin
        self.now = now

    def actor(self, user_id: str, team_id: str, channel_id: str | None) -> Actor:
        return Actor(user_id=user_id, team_id=team_id, is_admin=self.is_admin(user_id), channel_id=channel_id)

    # -- replies -------------------------------------------------------------------------------------

    def ephemeral(self, actor: Actor, body: dict) -> None:
        if not actor.channel_id:
            return self.direct(actor, body)
        try:
            self.client.chat_postEphemeral(channel=actor.channel_id, user=actor.user_id, **body)
        except SlackApiError as e:
            # The bot may not be in that channel (e.g. a DM between two people): fall back to a DM.
            log.info("ephemeral reply failed (%s); sending a DM", e.response.get("error"))
            self.direct(actor, body)

    def direct(self, actor: Actor, body: dict) -> None:
        channel = self.client.conversations_open(users=actor.user_id)["channel"]["id"]
        self.client.chat_postMessage(channel=channel, **body)

    def error(self, actor: Actor, e: errors.UserError) -> None:
        self.ephemeral(actor, views.notice(Notice(e.message, level="error", hint=e.hint)))

    def unexpected(self, actor: Actor) -> str:
        """Log the exception being handled under a new reference and tell the requester that reference."""
        reference = uuid.uuid4().hex[:10]
        log.exception("request of %s failed (reference %s)", actor.user_id, reference)
        notice = Notice(
            handler_messages.request_failed(reference), level="error", hint=handler_messages.HINT_REFERENCE
        )
        try:
            self.ephemeral(actor, views.notice(notice))
        except Exception:  # Slack itself is what fails: the log has it all
            log.exception("telling %s about reference %s failed", actor.user_id, reference)
        return reference

    def deliver(self, actor: Actor, credential: Credential) -> None:
        """Credentials go to the requester's DM as a file, never to the channel."""
        dm = self.client.conversations_open(users=actor.user_id)["channel"]["id"]
        self.client.files_upload_v2(
            channel=dm,
            content=credential.content,
            filename=credential.filename,
            title=f"kubeconfig for {credential.cluster_name}",
            initial_comment=slack_messages.kubeconfig_dm(credential.cluster_name),
        )
        if actor.channel_id and not actor.channel_id.startswith("D"):
            self.ephemeral(actor, views.credential_notice(credential.cluster_name))

    # -- commands ------------------------------------------------------------------------------------

    def run_command(self, actor: Actor, command: object, trigger_id: str, team_id: str) -> None:
        origin = Origin(channel_id=actor.channel_id)
        match command:
            case grammar.ParseError(message=message, usage=usage):
                self.ephemeral(actor, views.notice(Notice(message, level="error", hint=f"Usage: `{usage}`")))
            case grammar.Help(topic=topic):
                self.ephemeral(actor, views.help_message(messages.help_text(topic)))
            case grammar.CreateCmd(name=None):
                meta = json.dumps({"channel": actor.channel_id})
                self.client.views_open(
                    trigger_id=trigger_id,
                    view=views.create_modal(self.clusters.create_form(actor), private_metadata=meta),
                )
            case grammar.CreateCmd() as c:
                self.clusters.create(
                    actor,
                    name=c.name,
                    profile=c.provider,
                    nodes=c.nodes,
                    version=c.version,
                    machine_type=c.machine_type,
                    idempotency_key=f"cmd:{team_id}:{trigger_id}",
                    origin=origin,
                )
            case grammar.ListCmd(all=everyone, page=page):
                self.ephemeral(
                    actor,
                    views.cluster_list(self.clusters.list(actor, everyone=everyone, page=page), self.now()),
                )
            case grammar.InfoCmd(name=name):
                self.ephemeral(actor, views.details(self.clusters.info(actor, name), self.now()))
            case grammar.KubeconfigCmd(name=name):
                self.deliver(actor, self.clusters.kubeconfig(actor, name))
            case grammar.DeleteCmd(name=name):
                self.ephemeral(actor, views.confirmation(self.clusters.confirm_delete(actor, name)))
            case grammar.ScaleCmd(name=name, nodes=nodes):
                key = f"cmd:{team_id}:{trigger_id}"
                self.clusters.scale(actor, name, nodes=nodes, idempotency_key=key, origin=origin)
            case grammar.CancelCmd(name=name):
                self.ephemeral(actor, views.notice(self.clusters.cancel(actor, name)))
            case grammar.RegisterCmd(name=name):
                meta = json.dumps({"channel": actor.channel_id, "name": name})
                self.client.views_open(
                    trigger_id=trigger_id, view=views.register_modal(private_metadata=meta)
                )
            case _ if self.apps_face is not None:
                self.apps_face.run(actor, command, trigger_id, f"cmd:{team_id}:{trigger_id}")

    def run_action(self, actor: Actor, action_id: str, value: str, key: str) -> None:
        if action_id == ACTION_KUBECONFIG:
            self.deliver(actor, self.clusters.kubeconfig(actor, value))
        elif action_id == ACTION_INFO:
            self.ephemeral(actor, views.details(self.clusters.info(actor, value), self.now()))
        elif action_id == ACTION_DELETE:
            self.ephemeral(actor, views.confirmation(self.clusters.confirm_delete(actor, value)))
        elif action_id == ACTION_DELETE_CONFIRMED:
            self.clusters.delete(
                actor, value, idempotency_key=key, origin=Origin(channel_id=actor.channel_id)
            )
        elif action_id == ACTION_CANCEL_OPERATIONS:
            self.ephemeral(actor, views.notice(self.clusters.cancel(actor, value)))
        elif self.apps_face is not None and self.apps_face.run_action(actor, action_id, value, key):
            return
        elif action_id == ACTION_CANCEL:
            self.ephemeral(actor, views.notice(Notice("Cancelled; nothing was changed.")))
        elif action_id == LIST_PAGE_ACTION:
            scope, _, page = value.partition(":")
            reply = self.clusters.list(
                actor, everyone=scope == "all", page=int(page) if page.isdigit() else 1
            )
            self.ephemeral(actor, views.cluster_list(reply, self.now()))


def records_before_ack(command: object) -> bool:
    """Whether answering `command` only records an operation (no Slack call, no download): such commands
    are recorded first and acknowledged after; the others are acknowledged at once."""
    match command:
        case grammar.CreateCmd(name=str()) | grammar.ScaleCmd() | grammar.BackupCmd() | grammar.RestoreCmd():
            return True
        case grammar.UndeployCmd(version=str()):
            return True
        case grammar.DeployCmd() as deploy:
            return deploy.cluster is not None and deploy.source_kind in ("url", "chart")
    return False


def _channel(body: dict) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def _metadata(view: dict) -> dict:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def register_listeners(app: App, face: SlackFace) -> None:
    """Attach every kaas listener to a Bolt app."""

    @app.command("/kaas")
    def on_command(ack, command: dict) -> None:
        observe.request_id.set(command.get("trigger_id") or uuid.uuid4().hex[:10])
        actor = face.actor(command["user_id"], command["team_id"], command.get("channel_id"))
        parsed = grammar.parse(command.get("text", ""))
        acked = False

        def acknowledge() -> None:
            nonlocal acked
            if not acked:
                ack()
                acked = True

        # A command that starts an operation is recorded before Slack hears back, so once acknowledged it
        # survives any crash (the write is quick; its progress message follows from the outbox). Anything
        # else is acknowledged at once.
        if not records_before_ack(parsed):
            acknowledge()
        try:
            face.run_command(actor, parsed, command.get("trigger_id", ""), command["team_id"])
            acknowledge()
        except errors.UserError as e:
            acknowledge()
            face.error(actor, e)
        except Exception:
            acknowledge()
            face.unexpected(actor)

    action_ids = (
        ACTION_KUBECONFIG,
        ACTION_INFO,
        ACTION_DELETE,
        ACTION_DELETE_CONFIRMED,
        ACTION_CANCEL,
        ACTION_CANCEL_OPERATIONS,
        LIST_PAGE_ACTION,
        ACTION_UNDEPLOY_CONFIRMED,
    )

    @app.action(re.compile(f"^({'|'.join(map(re.escape, action_ids))})$"))
    def on_action(ack, body: dict, action: dict) -> None:
        ack()
        observe.request_id.set(body.get("trigger_id") or uuid.uuid4().hex[:10])
        team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
        actor = face.actor(body["user"]["id"], team_id, _channel(body))
        message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get(
            "ts", ""
        )
        # The clicked message identifies the request: a double click on the same button is one operation.
        value = action.get("value", "")
        key = f"action:{team_id}:{actor.channel_id}:{message_ts}:{action['action_id']}:{value}"
        try:
            face.run_action(actor, action["action_id"], value, key)
        except errors.UserError as e:
            face.error(actor, e)
        except Exception:
            face.unexpected(actor)

    def submit(
        ack,
        body: dict,
        view: dict,
        parsed: object,
        record: Callable[[Actor, str, Origin], object],
        field_of: Callable[[errors.UserError], str] | None = None,
    ) -> None:
        """Shared path of modal submissions: field errors go back in the ack, else record and ack."""
        if isinstance(parsed, dict):
            ack(response_action="errors", errors=parsed)
            return
        team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id")
        actor = face.actor(body["user"]["id"], team_id, _metadata(view).get("channel"))
        try:
            # The view id is the request: a double-submitted modal is one operation.
            record(actor, f"view:{view['id']}", Origin(channel_id=actor.channel_id))
        except errors.UserError as e:
            field = (field_of or _field_of)(e)
            ack(response_action="errors", errors={field: f"{e.message} {e.hint}".strip()[:2000]})
            return
        except Exception:
            reference = uuid.uuid4().hex[:10]
            log.exception("form submission of %s failed (reference %s)", actor.user_id, reference)
            ack(response_action="errors", errors={"name": handler_messages.request_failed(reference)})
            return
        ack()

    @app.view(CREATE_CALLBACK)
    def on_create(ack, body: dict, view: dict) -> None:
        parsed = views.parse_create_submission(view["state"]["values"])
        submit(
            ack,
            body,
            view,
            parsed,
            lambda actor, key, origin: face.clusters.create(
                actor,
                name=parsed.name,
                profile=parsed.profile,
                nodes=parsed.nodes,
                version=parsed.version,
                machine_type=parsed.machine_type,
                idempotency_key=key,
                origin=origin,
            ),
        )

    @app.view(REGISTER_CALLBACK)
    def on_register(ack, body: dict, view: dict) -> None:
        parsed = views.parse_register_submission(view["state"]["values"])
        submit(
            ack,
            body,
            view,
            parsed,
            lambda actor, key, origin: face.clusters.register(
                actor,
                name=parsed.name,
                kubeconfig=parsed.kubeconfig,
                idempotency_key=key,
                origin=origin,
            ),
        )

    if face.apps_face is not None:
        register_app_listeners(app, face, face.apps_face, submit)

    @app.error
    def on_error(error: Exception, body: dict) -> None:
        log.exception("unhandled error in a Slack listener", exc_info=error)


def _field_of(e: errors.UserError) -> str:
    """Which modal input an error belongs to, so Slack shows it next to that field."""
    text = e.message.lower()
    if "kubeconfig" in text:
        return "kubeconfig"
    for needle, block in (
        ("node", "nodes"),
        ("version", "version"),
        ("machine type", "machine_type"),
        ("profile", "profile"),
    ):
        if needle in text:
            return block
    return "name"
