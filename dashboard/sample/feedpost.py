"""One live feed per source, and a post box through which a second ``simulate`` hands it a surge.

``make run`` starts the feed beside the server, and the README then suggests ``python -m dashboard
simulate --surge 瓜沥镇`` to watch an alert come up. Run as a second feed, that command wrote every
regular report a second time and took event ids the first feed had already planned to use, which
crashed it (a UNIQUE constraint on ``event.event_id``) and left the wall showing frozen data.

Now the running feed holds a lock file for its source; a second ``simulate`` that finds it held drops
its surge into the post box and leaves. The running feed collects the post on its next tick and
releases the burst over the following minutes, with its own ids. The lock is an OS file lock, so it is
let go when the feed's process ends, however it ends. Why not a library: the whole need is one
``flock`` and a directory of small files, which the standard library already covers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import IO

from sqlalchemy import make_url

from dashboard.core.settings import DATA_DIR


def post_dir(url: str) -> Path:
    """Where the feed of ``url`` keeps its lock and post box: beside a SQLite file, else under data/."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        return path.with_name(path.name + ".feed")
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return DATA_DIR / "feeds" / digest


class FeedPost:
    """The lock a running feed holds on its source, and the surges posted to it."""

    def __init__(self, url: str) -> None:
        self.dir = post_dir(url)
        self.lock_path = self.dir / "feed.lock"
        self.box = self.dir / "surges"
        self._held: IO[str] | None = None

    def hold(self) -> bool:
        """Take the source's feed lock for this process; False when another feed holds it."""
        self.box.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._held = handle
        return True

    def release(self) -> None:
        if self._held is not None:
            fcntl.flock(self._held, fcntl.LOCK_UN)
            self._held.close()
            self._held = None

    def holder(self) -> str:
        """The process id written by the feed that holds the lock ('?' when unreadable)."""
        try:
            return self.lock_path.read_text(encoding="utf-8").strip() or "?"
        except OSError:
            return "?"

    def post_surge(self, unit: str) -> Path:
        """Drop a surge for ``unit`` in the box, whole or not at all (written aside, then renamed)."""
        self.box.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.json"
        aside = self.box / f".{name}"
        aside.write_text(json.dumps({"unit": unit}, ensure_ascii=False), encoding="utf-8")
        target = self.box / name
        aside.rename(target)
        return target

    def collect_surges(self) -> list[str]:
        """The units of every surge posted since the last call, oldest first; the posts are removed."""
        if not self.box.is_dir():
            return []
        posts = sorted(
            (p for p in self.box.glob("*.json") if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        units = []
        for post in posts:
            with contextlib.suppress(OSError, ValueError, KeyError):  # a damaged post is dropped, not retried
                units.append(str(json.loads(post.read_text(encoding="utf-8"))["unit"]))
            post.unlink(missing_ok=True)
        return units
