"""The ways out of the dashboard: SMTP mail and webhooks (DingTalk / 浙政钉, WeCom, plain JSON).

Shared by the briefings (:mod:`dashboard.briefings.deliver`) and the alerts' push
(:mod:`dashboard.service.push`), so both speak to a relay or a robot the same way: one attempt per call
with a timeout, a robot's own ``errcode`` counted as a failure, and secrets (tokens in a URL, an SMTP
password) kept out of every name and error text that logs, the archive or ``/health`` may show. Retries
and their waits belong to the callers: a briefing retries within its run, the push on its next drains.

* **Mail**: ``smtp://[user:password@]host[:port][?starttls=1&from=addr]`` (``smtps://`` for TLS).
* **DingTalk / 浙政钉** (``dingtalk:<robot url>``) and **WeCom** (``wecom:<robot url>``): markdown.
* **JSON** (``json:<url>``): the caller's own document.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT = 20.0  # seconds per attempt
KINDS = ("dingtalk", "wecom", "json")


@dataclass(frozen=True)
class Channel:
    """One way out: ``kind`` is smtp, dingtalk, wecom or json; ``target`` the URL (with its secrets)."""

    kind: str
    target: str
    recipients: tuple[str, ...] = ()
    label: str = ""  # a webhook's target name (``name=kind:url``) that definitions use; default: its kind

    @property
    def name(self) -> str:
        """The channel as logs and the archive may show it: its kind and host, never a token (a mail
        channel of a stored briefing definition names its recipients too: each list is delivered on its own)."""
        base = f"{self.kind}:{urlsplit(self.target).hostname or '?'}"
        if self.label and self.kind == "smtp":
            return f"{base}:{self.label}"
        return base

    @property
    def target_name(self) -> str:
        """The name a stored briefing definition gives this webhook by."""
        return self.label or self.kind

    @property
    def key(self) -> str:
        """A stable identity without secrets: the name and a digest of the URL and recipients (two robots
        on one host, e.g. oapi.dingtalk.com, are two channels)."""
        secret = "|".join((self.target, *self.recipients)).encode("utf-8")
        return f"{self.name}#{hashlib.sha256(secret).hexdigest()[:8]}"


def smtp_channel(smtp: str, mail_to: str | tuple[str, ...], *, smtp_setting: str, to_setting: str) -> Channel:
    """The mail channel of ``smtp`` to ``mail_to`` (comma-separated or a tuple); ValueError naming the
    setting for a malformed one."""
    if urlsplit(smtp).scheme not in ("smtp", "smtps"):
        raise ValueError(f"{smtp_setting}: use smtp://[user:password@]host[:port][?starttls=1&from=addr]")
    to = mail_to if isinstance(mail_to, tuple) else tuple(a.strip() for a in mail_to.split(",") if a.strip())
    if not to:
        raise ValueError(f"{to_setting}: give the recipients (comma-separated) with an SMTP relay")
    return Channel("smtp", smtp, to)


def webhook_channel(item: str, *, setting: str) -> Channel:
    """``kind:url`` as a channel; ValueError naming the setting for a malformed one."""
    kind, _, url = item.strip().partition(":")
    if kind not in KINDS or not url.startswith(("http://", "https://")):
        raise ValueError(f"{setting}: {kind}:… is not one of {', '.join(KINDS)} with an http(s) URL")
    return Channel(kind, url)


def robot_payload(kind: str, title: str, markdown: str) -> dict[str, Any]:
    """A DingTalk or WeCom robot's markdown message."""
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": markdown}}
    raise ValueError(f"{kind} is not a robot")


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST ``payload``; a non-2xx answer, or a robot's own ``errcode`` other than 0, is an error."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, body, {"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        text = answer.read(65536).decode("utf-8", "replace")
    try:
        code = json.loads(text).get("errcode", 0) if text.strip().startswith("{") else 0
    except ValueError:
        code = 0
    if code:
        raise RuntimeError(f"the robot answered errcode {code}")


def new_mail(channel: Channel, subject: str, text: str) -> EmailMessage:
    """A plain-text message from the relay's ``from`` (or dashboard@host) to the channel's recipients."""
    url = urlsplit(channel.target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = query.get("from") or f"dashboard@{url.hostname}"
    message["To"] = ", ".join(channel.recipients)
    message.set_content(text)
    return message


def send_mail(channel: Channel, message: EmailMessage) -> None:
    """Send ``message`` through the channel's relay (STARTTLS and login when its URL asks)."""
    url = urlsplit(channel.target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(
        url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25), timeout=TIMEOUT
    ) as smtp:
        if query.get("starttls") in ("1", "true", "yes"):
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def error_text(exc: BaseException, target: str) -> str:
    """What went wrong, short and without the target's secrets (its URL, password, query)."""
    text = f"{type(exc).__name__}: {exc}"
    url = urlsplit(target)
    for secret in (target, url.password, url.query):
        if secret:
            text = text.replace(secret, "***")
    return text[:300]
