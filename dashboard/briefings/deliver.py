"""Delivering a briefing: e-mail to an intranet relay, and webhooks (DingTalk / 浙政钉, WeCom, plain JSON).

Channels come from the settings only (``DASHBOARD_BRIEFING_SMTP``, ``DASHBOARD_BRIEFING_MAIL_TO``,
``DASHBOARD_BRIEFING_WEBHOOKS``): secrets never reach the archive or the logs, which name a channel by its
kind and host alone. Each channel is tried up to :data:`ATTEMPTS` times with a doubling wait; what
happened (ok or the last error, the attempts, when) is written into the briefing's manifest, so the
archive and ``/health`` can show a failure, and a later pass retries a channel that failed.

* **Mail**: ``smtp://[user:password@]host[:port][?starttls=1&from=addr]``; the PDF attached (the PPTX
  too when it is under :data:`ATTACH_LIMIT`), the summary as the text.
* **DingTalk / 浙政钉** (``dingtalk:<robot url>``) and **WeCom** (``wecom:<robot url>``): their robots'
  markdown messages: the title, the summary's lines, a link to the files when ``DASHBOARD_PUBLIC_URL``
  is set.
* **JSON** (``json:<url>``): the manifest as it is, plus the link.

The transport itself (connecting, posting, a robot's errcode, secrets out of errors) is shared with the
alerts' push: :mod:`dashboard.service.transport`.

A webhook may carry a name, ``hall=dingtalk:<url>``: a stored briefing definition sends to it by that
name (unnamed ones are named by their kind), so definitions hold names and never a URL.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dashboard.service.transport import (
    KINDS,
    Channel,
    error_text,
    new_mail,
    post_json,
    robot_payload,
    send_mail,
    smtp_channel,
    webhook_channel,
)

__all__ = ["KINDS", "Channel", "channels_from_settings", "deliver", "deliver_pending", "failed_deliveries"]

ATTEMPTS = 3
FIRST_WAIT = 2.0  # seconds before the second attempt; doubled each time
ATTACH_LIMIT = 10 * 1024 * 1024  # bytes: a deck larger than this is linked, not attached


def channels_from_settings(smtp: str, mail_to: str, webhooks: str) -> list[Channel]:
    """The configured channels; ValueError naming the setting for a malformed one."""
    found = []
    if smtp:
        found.append(
            smtp_channel(
                smtp, mail_to, smtp_setting="DASHBOARD_BRIEFING_SMTP", to_setting="DASHBOARD_BRIEFING_MAIL_TO"
            )
        )
    for item in (w.strip() for w in webhooks.split(",") if w.strip()):
        label, named, rest = item.partition("=")
        if not named or "://" in label:  # no name given (or an = inside the URL only)
            label, rest = "", item
        channel = webhook_channel(rest, setting="DASHBOARD_BRIEFING_WEBHOOKS")
        found.append(replace(channel, label=label.strip()))
    return found


def webhook_names(webhooks: str) -> list[str]:
    """The target names definitions may use: each webhook's ``name=`` (or its kind when unnamed)."""
    return [c.target_name for c in channels_from_settings("", "", webhooks)]


def summary_lines(manifest: dict[str, Any], limit: int = 12) -> list[str]:
    """The summary as text lines: section titles and their sentences (at most ``limit`` sentences)."""
    out: list[str] = []
    count = 0
    for title, lines in manifest.get("summary") or []:
        out.append(f"【{title}】")
        for line in lines:
            if count >= limit:
                return out
            out.append(f"· {line}")
            count += 1
    return out


def link(manifest: dict[str, Any], public_url: str) -> str | None:
    """Where the files are on the dashboard (the 简报 archive), when its public address is known."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/briefings/{manifest['kind']}/{manifest['period']}/"


def _markdown(manifest: dict[str, Any], public_url: str) -> str:
    text = [f"### {manifest['title']}", *summary_lines(manifest)]
    where = link(manifest, public_url)
    if where:
        text.append(f"[下载 PPTX / PDF]({where})")
    return "\n\n".join(text)


def _payload(channel: Channel, manifest: dict[str, Any], public_url: str) -> dict[str, Any]:
    if channel.kind in ("dingtalk", "wecom"):
        return robot_payload(channel.kind, manifest["title"], _markdown(manifest, public_url))
    public = {k: v for k, v in manifest.items() if k != "deliveries"}
    return {**public, "link": link(manifest, public_url)}


def send_briefing_mail(channel: Channel, manifest: dict[str, Any], folder: Path, public_url: str) -> None:
    """One message to every recipient through the relay: the summary as text, the PDF attached (the PPTX
    too when it is under :data:`ATTACH_LIMIT`)."""
    body = [manifest["title"], "", *summary_lines(manifest, limit=40)]
    if (where := link(manifest, public_url)) is not None:
        body += ["", where]
    message = new_mail(channel, manifest["title"], "\n".join(body))
    for name in manifest.get("files") or []:
        path = folder / name
        if name.endswith(".pdf") or path.stat().st_size <= ATTACH_LIMIT:
            subtype = (
                "pdf"
                if name.endswith(".pdf")
                else "vnd.openxmlformats-officedocument.presentationml.presentation"
            )
            message.add_attachment(path.read_bytes(), maintype="application", subtype=subtype, filename=name)
    send_mail(channel, message)


def deliver(
    manifest_path: Path,
    channels: Iterable[Channel],
    *,
    public_url: str = "",
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, dict[str, Any]]:
    """Send the briefing of ``manifest_path`` on each channel not yet delivered; record the outcome in the
    manifest and return it (channel name → {ok, attempts, at, error})."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    done: dict[str, dict[str, Any]] = dict(manifest.get("deliveries") or {})
    for channel in channels:
        if done.get(channel.name, {}).get("ok"):
            continue  # delivered once: a rerun never sends it again
        done[channel.name] = _attempts(channel, manifest, manifest_path.parent, public_url, now, sleep)
        manifest["deliveries"] = done
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return done


def _attempts(
    channel: Channel, manifest: dict[str, Any], folder: Path, public_url: str,
    now: Callable[[], dt.datetime], sleep: Callable[[float], None],
) -> dict[str, Any]:  # fmt: skip
    wait, error = FIRST_WAIT, ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if channel.kind == "smtp":
                send_briefing_mail(channel, manifest, folder, public_url)
            else:
                post_json(channel.target, _payload(channel, manifest, public_url))
            return {"ok": True, "attempts": attempt, "at": now().isoformat(), "error": None}
        except Exception as exc:  # any failure is retried, then recorded; secrets stay out of the text
            error = error_text(exc, channel.target)
            if attempt < ATTEMPTS:
                sleep(wait)
                wait *= 2
    return {"ok": False, "attempts": ATTEMPTS, "at": now().isoformat(), "error": error}


def failed_deliveries(root: Path) -> list[dict[str, Any]]:
    """Every archived briefing with a channel that failed (for ``/health`` and the 简报 page)."""
    found = []
    for manifest_path in sorted(root.glob("*/*/*.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for name, outcome in (manifest.get("deliveries") or {}).items():
            if not outcome.get("ok"):
                found.append(
                    {
                        "kind": manifest.get("kind"),
                        "period": manifest.get("period"),
                        "scope": manifest.get("scope"),
                        "title": manifest.get("title"),
                        "channel": name,
                        "error": outcome.get("error"),
                        "at": outcome.get("at"),
                    }
                )
    return found


def deliver_pending(
    root: Path, channels: list[Channel], *, public_url: str = "", since: dt.datetime, **kwargs: Any
) -> dict[str, dict[str, dict[str, Any]]]:
    """Deliver every briefing made since ``since`` on the channels it has not reached yet (a new one, or
    one whose channel failed last time): manifest path → its deliveries."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if not channels:
        return out
    for manifest_path in sorted(root.glob("*/*/*.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        made = dt.datetime.fromisoformat(manifest.get("made_at") or "1970-01-01T00:00:00+00:00")
        reached = {n for n, o in (manifest.get("deliveries") or {}).items() if o.get("ok")}
        if made >= since and any(c.name not in reached for c in channels):
            out[str(manifest_path)] = deliver(manifest_path, channels, public_url=public_url, **kwargs)
    return out
