"""Slack's deliveries: what a ``slack``-signed webhook reads, and the run input Sim gives.

Slack posts three kinds of request to an app's URL, each signed the same way
(``stepweave.triggers.signatures``, scheme ``slack``):

- **Events API** (JSON): ``{"type": "event_callback", "event": {...}, "event_id", "team_id",
  ...}``; the first request to a new URL is ``{"type": "url_verification", "challenge"}``,
  answered with the challenge (``challenge``) and starting nothing;
- **slash commands** (``application/x-www-form-urlencoded``: ``command``, ``text``,
  ``channel_id``, ``user_id``, ``trigger_id``, ``response_url``...);
- **interactivity** (form-encoded, one field ``payload`` holding JSON: ``block_actions``,
  ``view_submission``, shortcuts).

``form_payload`` reads the two form-encoded kinds as the JSON object the rest of the
ingest expects; ``sim_event`` is Sim's normalized Slack trigger output (``event_type``,
``channel``, ``user``, ``text``, ``timestamp``, ``thread_ts``, ``team_id``, ``event_id``,
``reaction``, ``command``, ``action_id``...), laid over the raw event's own fields so both
Sim's names and Slack's (``ts``, ``type``, ``blocks``) resolve.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FORM_TYPE", "challenge", "form_payload", "sim_event"]

FORM_TYPE = "application/x-www-form-urlencoded"
#: Slack's challenges are short tokens; a longer one is not echoed.
MAX_CHALLENGE = 256
_REACTIONS = ("reaction_added", "reaction_removed")
_INTERACTIVE = ("block_actions", "view_submission", "view_closed", "shortcut",
                "message_action", "interactive_message")


def form_payload(text: str) -> dict[str, Any] | None:
    """A form-encoded Slack request as a JSON object: interactivity's ``payload`` field
    parsed, or a slash command's fields; None when ``payload`` is not a JSON object."""
    fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))
    if "payload" in fields:
        try:
            parsed = json.loads(fields["payload"])
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return dict(fields)


def challenge(payload: Any) -> str | None:
    """The challenge of a ``url_verification`` request, else None."""
    if isinstance(payload, dict) and payload.get("type") == "url_verification":
        value = payload.get("challenge")
        if isinstance(value, str) and 0 < len(value) <= MAX_CHALLENGE:
            return value
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _action_value(action: dict[str, Any]) -> str:
    if isinstance(action.get("value"), str):
        return str(action["value"])
    selected = action.get("selected_option")
    if isinstance(selected, dict) and isinstance(selected.get("value"), str):
        return str(selected["value"])
    many = action.get("selected_options")
    if isinstance(many, list):
        return ",".join(_text(o.get("value")) for o in many if isinstance(o, dict) and o.get("value"))
    for key in ("selected_date", "selected_time", "selected_conversation", "selected_channel",
                "selected_user"):
        if isinstance(action.get(key), str):
            return str(action[key])
    return ""


def _blank() -> dict[str, Any]:
    text_fields = ("event_type", "subtype", "channel", "channel_name", "channel_type", "user",
                   "user_name", "bot_id", "text", "timestamp", "thread_ts", "team_id", "event_id",
                   "reaction", "item_user", "command", "action_id", "action_value", "response_url",
                   "trigger_id", "callback_id", "api_app_id", "app_id", "message_ts")
    return {**{k: "" for k in text_fields}, "actions": [], "view": None, "message": None,
            "state": None, "hasFiles": False, "files": []}


def _slash(body: dict[str, Any]) -> dict[str, Any]:
    return {**_blank(), "event_type": "slash_command", "command": _text(body.get("command")),
            "text": _text(body.get("text")), "channel": _text(body.get("channel_id")),
            "channel_name": _text(body.get("channel_name")), "user": _text(body.get("user_id")),
            "user_name": _text(body.get("user_name")), "team_id": _text(body.get("team_id")),
            "response_url": _text(body.get("response_url")),
            "trigger_id": _text(body.get("trigger_id")), "api_app_id": _text(body.get("api_app_id"))}


def _interactive(body: dict[str, Any]) -> dict[str, Any]:
    def obj(key: str) -> dict[str, Any]:
        value = body.get(key)
        return value if isinstance(value, dict) else {}

    actions = [a for a in body.get("actions") or [] if isinstance(a, dict)]
    first = actions[0] if actions else {}
    message, channel, user, view = obj("message"), obj("channel"), obj("user"), obj("view")
    event = {**_blank(), "event_type": _text(body.get("type")) or "block_actions",
             "channel": _text(channel.get("id")), "channel_name": _text(channel.get("name")),
             "user": _text(user.get("id")),
             "user_name": _text(user.get("username")) or _text(user.get("name")),
             "team_id": _text(obj("team").get("id")) or _text(user.get("team_id")),
             "action_id": _text(first.get("action_id")), "action_value": _action_value(first),
             "actions": actions, "response_url": _text(body.get("response_url")),
             "trigger_id": _text(body.get("trigger_id")),
             "callback_id": _text(body.get("callback_id")) or _text(view.get("callback_id")),
             "api_app_id": _text(body.get("api_app_id")),
             "message_ts": _text(message.get("ts")) or _text(obj("container").get("message_ts")),
             "view": view or None, "message": message or None,
             "state": body.get("state") if isinstance(body.get("state"), dict) else None,
             "thread_ts": _text(message.get("thread_ts"))}
    event["timestamp"] = event["message_ts"] or _text(first.get("action_ts"))
    event["text"] = _text(message.get("text")) or event["action_value"]
    return event


def sim_event(body: dict[str, Any]) -> dict[str, Any]:
    """Sim's ``event`` output for one Slack request (the raw event's fields underneath)."""
    if isinstance(body.get("command"), str) and str(body["command"]).startswith("/"):
        return _slash(body)
    raw = body.get("event")
    if not isinstance(raw, dict):
        if body.get("type") in _INTERACTIVE or isinstance(body.get("actions"), list):
            return _interactive(body)
        raw = {}
    kind = _text(raw.get("type")) or _text(body.get("type")) or "unknown"
    item = _object(raw.get("item"))
    ts = _text(item.get("ts")) if kind in _REACTIONS else (_text(raw.get("ts"))
                                                          or _text(raw.get("event_ts")))
    channel = _text(raw.get("channel")) or _text(item.get("channel"))
    if isinstance(raw.get("channel"), dict):  # channel_created / channel_rename
        channel = _text(raw["channel"].get("id"))
    profile = _object(raw.get("bot_profile"))
    files = raw.get("files") if isinstance(raw.get("files"), list) else []
    normalized = {**_blank(), "event_type": kind, "subtype": _text(raw.get("subtype")),
                  "channel": channel, "channel_type": _text(raw.get("channel_type")),
                  "user": _text(raw.get("user")), "bot_id": _text(raw.get("bot_id")),
                  "text": _text(raw.get("text")), "timestamp": ts,
                  "thread_ts": _text(raw.get("thread_ts")),
                  "team_id": _text(body.get("team_id")) or _text(raw.get("team")),
                  "event_id": _text(body.get("event_id")),
                  "api_app_id": _text(body.get("api_app_id")),
                  "app_id": _text(raw.get("app_id")) or _text(profile.get("app_id")),
                  "reaction": _text(raw.get("reaction")), "item_user": _text(raw.get("item_user")),
                  "message_ts": ts, "hasFiles": bool(files)}
    return {**raw, **normalized}
