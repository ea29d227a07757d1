"""Where alerts go: the log (always), Slack and e-mail when configured by environment variables.

| variable | channel |
|---|---|
| (none) | log line `mesh.alerts` + the `monitoring.alerts` table (the local default) |
| MESH_SLACK_WEBHOOK_URL | Slack incoming webhook |
| MESH_SLACK_TOKEN, MESH_SLACK_CHANNEL (default #data-alerts) | Slack API via dagster-slack |
| MESH_SMTP_HOST, MESH_SMTP_PORT (25), MESH_ALERT_EMAIL_FROM, MESH_SMTP_USER/PASSWORD, MESH_SMTP_STARTTLS=1 | e-mail |
| MESH_ALERT_TEAM_EMAIL_DOMAIN | mail `team:<x>` owners at `<x>-alerts@<domain>` |

Secrets (token, password, webhook URL) are read from the environment only, never stored.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from platform_core.errors import ConfigurationError
from platform_core.monitoring.incidents import Alert, AlertState

log = logging.getLogger("mesh.alerts")


class AlertDeliveryError(RuntimeError):
    """A channel refused or could not take a message."""


class Channel(Protocol):
    name: str

    def deliver(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class LogChannel:
    """The account-free default: one log line per alert (the table row is written by the router)."""

    name: str = "log"

    def deliver(self, alert: Alert) -> None:
        level = logging.INFO if alert.state is AlertState.RESOLVED else logging.WARNING
        log.log(
            level,
            "%s %s %s -> %s: %s",
            alert.state.value.upper(),
            alert.kind.value,
            alert.incident_key,
            ",".join(alert.recipients),
            alert.title,
        )


def _slack_text(alert: Alert) -> str:
    icon = ":white_check_mark:" if alert.state is AlertState.RESOLVED else ":rotating_light:"
    mentions = " ".join(f"`{r}`" for r in alert.recipients)
    lines = [f"{icon} *{alert.title}*", f"Owners: {mentions}  ({alert.scope})"]
    lines.extend(f"*{name}:* {value}" for name, value in alert.details.items())
    if alert.body:
        lines.append(alert.body)
    if alert.link:
        lines.append(f"<{alert.link}|Open in Dagster>")
    return "\n".join(lines)


@dataclass(frozen=True)
class SlackWebhookChannel:
    url: str
    name: str = "slack"

    def deliver(self, alert: Alert) -> None:
        from slack_sdk.webhook import WebhookClient

        response = WebhookClient(self.url, timeout=10).send(text=_slack_text(alert))
        if response.status_code != 200:
            raise AlertDeliveryError(
                f"Slack webhook answered {response.status_code}: {response.body}"
            )


@dataclass(frozen=True)
class SlackApiChannel:
    """chat.postMessage through dagster-slack's SlackResource (a bot token)."""

    token: str
    channel: str
    base_url: str | None = None  # only to point at a stand-in server in tests
    name: str = "slack"

    def deliver(self, alert: Alert) -> None:
        from dagster_slack import SlackResource

        client = SlackResource(token=self.token).get_client()
        if self.base_url:
            client.base_url = self.base_url
        client.chat_postMessage(channel=self.channel, text=_slack_text(alert))


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    team_domain: str | None = None
    name: str = "email"

    def addresses(self, recipients: Sequence[str]) -> list[str]:
        """E-mail owners as they are; `team:<x>` via the team domain, when one is configured."""
        addresses = []
        for recipient in recipients:
            if recipient.startswith("team:"):
                if self.team_domain:
                    addresses.append(f"{recipient.removeprefix('team:')}-alerts@{self.team_domain}")
            elif "@" in recipient:
                addresses.append(recipient)
        return addresses

    def deliver(self, alert: Alert) -> None:
        to = self.addresses(alert.recipients)
        if not to:
            return
        message = EmailMessage()
        prefix = "[resolved]" if alert.state is AlertState.RESOLVED else "[mesh alert]"
        message["Subject"] = f"{prefix} {alert.title}"
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message.set_content(alert.text())
        with smtplib.SMTP(self.host, self.port, timeout=15) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def channels_from_env(environ: Mapping[str, str]) -> list[Channel]:
    """The log channel plus whatever Slack / SMTP the environment configures."""
    channels: list[Channel] = [LogChannel()]
    if environ.get("MESH_SLACK_WEBHOOK_URL"):
        channels.append(SlackWebhookChannel(environ["MESH_SLACK_WEBHOOK_URL"]))
    elif environ.get("MESH_SLACK_TOKEN"):
        channels.append(
            SlackApiChannel(
                environ["MESH_SLACK_TOKEN"],
                environ.get("MESH_SLACK_CHANNEL", "#data-alerts"),
                environ.get("MESH_SLACK_API_URL") or None,
            )
        )
    if environ.get("MESH_SMTP_HOST"):
        sender = environ.get("MESH_ALERT_EMAIL_FROM", "")
        if "@" not in sender:
            raise ConfigurationError(
                f"MESH_SMTP_HOST is set but MESH_ALERT_EMAIL_FROM={sender!r} is not an address. "
                "Fix: set MESH_ALERT_EMAIL_FROM to the sender address of mesh alerts."
            )
        port = environ.get("MESH_SMTP_PORT", "25")
        if not port.isdigit():
            raise ConfigurationError(
                f"MESH_SMTP_PORT={port!r} is not a port number. Fix: e.g. 25, 587 or 1025."
            )
        channels.append(
            EmailChannel(
                host=environ["MESH_SMTP_HOST"],
                port=int(port),
                sender=sender,
                username=environ.get("MESH_SMTP_USER") or None,
                password=environ.get("MESH_SMTP_PASSWORD") or None,
                starttls=environ.get("MESH_SMTP_STARTTLS", "") in {"1", "true"},
                team_domain=environ.get("MESH_ALERT_TEAM_EMAIL_DOMAIN") or None,
            )
        )
    return channels
