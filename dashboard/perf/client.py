"""The open-loop HTTP client of the bench and the soak: what a screen sends, and many screens at once.

A screen either polls ``/api/v1/snapshot`` or sends the ``/_dash-update-component`` request its page
(or the wall) sends on every tick, built from ``/_dash-dependencies`` as the browser builds it, with the
render key of its last answer (so an unchanged board costs a 204). Open loop: a slow answer does not
delay the next poll, and latency counts from the planned send time.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dashboard.perf.server import SCREEN_HEADER
from dashboard.perf.stats import latency_percentiles

VIEWS = ("", "town=330109001", "town=330109113", "period=week", "lang=en")
TICK_INPUTS = [{"id": "view", "property": "data"}, {"id": "tick", "property": "n_intervals"}]
# The wall's tick comes through a store its browser code lets through one refresh at a time.
WALL_TICK_INPUTS = [{"id": "view", "property": "data"}, {"id": "wall-pulse", "property": "data"}]
UPDATE_PATH = "/_dash-update-component"
API_SHARE = 3  # every third screen polls the JSON API, the others the pages' update requests


def fetch(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """(status, body) of a GET; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass(frozen=True)
class Target:
    """One kind of poll: the snapshot API for a view, or one page's update request for a view."""

    label: str  # "api:town=330109001", "ov-key:period=week" …
    path: str
    body: dict[str, Any] | None = None  # the update request's JSON (None: a GET)
    key_store: str | None = None  # the store holding the last render key, sent back as state


@dataclass(frozen=True)
class Answer:
    """What one poll got back."""

    status: int | str  # HTTP status, or the exception's name when no answer came
    seconds: float
    stale: bool = False  # the API said meta.stale
    key: str | None = None  # the render key of an update answer (sent back next time)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and self.status < 400


def fetch_json(url: str, timeout: float = 30.0) -> Any:
    """The JSON body of a GET."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def tick_callbacks(base: str) -> list[dict[str, Any]]:
    """The server callbacks a page or the wall runs on every tick (inputs: the view and the tick)."""
    deps = fetch_json(base + "/_dash-dependencies")
    return [d for d in deps if is_tick(d) and not d.get("clientside_function")]


def is_tick(dep: dict[str, Any]) -> bool:
    """Does ``dep`` (an entry of ``/_dash-dependencies``) run on a screen's refresh tick?"""
    return dep["inputs"] in (TICK_INPUTS, WALL_TICK_INPUTS)


def update_body(dep: dict[str, Any], query: str, last_key: str | None = None) -> dict[str, Any]:
    """The JSON the browser posts for ``dep`` on a tick, showing the view ``query``."""
    names = dep["output"][2:-2].split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = [{"id": n.rsplit(".", 1)[0], "property": n.rsplit(".", 1)[1].split("@")[0]} for n in names]
    state = [
        {**s, "value": last_key if s["id"].endswith("-key") else (1.0 if s["id"] == "wall-scale" else None)}
        for s in dep.get("state", [])
    ]
    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": [{**dep["inputs"][0], "value": query}, {**dep["inputs"][1], "value": 1}],
        "state": state,
        "changedPropIds": ["{id}.{property}".format(**dep["inputs"][1])],
    }


def plan_targets(base: str, views: Sequence[str] = VIEWS) -> list[Target]:
    """Every poll a screen may send: the API and each tick callback, for each view."""
    targets = [Target(f"api:{v or 'district'}", f"/api/v1/snapshot?{v}") for v in views]
    for dep in tick_callbacks(base):
        key_store = next((s["id"] for s in dep.get("state", []) if s["id"].endswith("-key")), None)
        name = key_store or dep["output"][2:].split(".", 1)[0]
        for v in views:
            targets.append(Target(f"{name}:{v or 'district'}", UPDATE_PATH, update_body(dep, v), key_store))
    return targets


def send(base: str, target: Target, last_key: str | None = None, timeout: float = 60.0) -> Answer:
    """One poll; never raises (a refused connection or a timeout is an answer too)."""
    data = None
    headers = {}
    if target.body is not None:
        body = target.body
        if target.key_store:  # the board's key, and the key of the local copy that came with it
            body = {**body, "state": [{**s, "value": last_key} if s["id"].endswith("-key") else s
                                      for s in body["state"]]}  # fmt: skip
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if target.key_store:  # the server's own timing of screens (dashboard.perf.server.timing_screens)
            headers[SCREEN_HEADER] = "tick" if last_key else "first"
    request = urllib.request.Request(base + target.path, data=data, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except Exception as exc:  # refused, reset, timed out
        return Answer(type(exc).__name__, time.perf_counter() - started)
    took = time.perf_counter() - started
    stale = target.body is None and b'"stale":true' in raw[-800:]
    key = key_in(raw, target.key_store) if target.key_store and status == 200 else None
    return Answer(status, took, stale, key, raw)


def key_in(raw: bytes, store: str) -> str | None:
    """The render key an update answer wrote to ``store`` (None: not written).

    Searched from the end, where Dash writes the key stores, rather than over the whole body: a whole
    wall board is ~0.8 MB, and a client thread scanning it holds the bench's GIL from every other client
    whose answer is arriving (their latency would count this client's parsing).
    """
    mark = b'"' + store.encode() + b'":{"data":"'
    at = raw.rfind(mark)
    if at < 0:
        return None
    end = raw.find(b'"', at + len(mark))
    value = json.loads(raw[at + len(mark) - 1 : end + 1])  # Dash escapes "/", "<", ">" as \\u00XX
    return value if isinstance(value, str) else None


# --- many screens, open loop ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the screens saw (thread-safe)."""

    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: {"api": [], "page": []})
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    stale: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, target: Target, answer: Answer, late: float) -> None:
        with self._lock:
            self.statuses[str(answer.status)] += 1
            if not answer.ok:
                self.errors[f"{answer.status} {target.label}"] += 1
                return
            self.latencies.append(answer.seconds + late)  # from the planned send time: open loop
            self.by_kind["api" if target.body is None else "page"].append(answer.seconds + late)
            self.stale += answer.stale

    def summary(self) -> dict[str, Any]:
        with self._lock:
            lat = sorted(self.latencies)
            out = {
                "requests": sum(self.statuses.values()),
                "ok": len(lat),
                "errors": sum(self.errors.values()),
                "error_kinds": dict(self.errors.most_common(5)),
                "statuses": dict(self.statuses),
                "stale_answers": self.stale,
                **latency_percentiles(lat, 1),
            }
            out["by_kind"] = {
                k: {"requests": len(v), **latency_percentiles(sorted(v), 1)} for k, v in self.by_kind.items()
            }
        return out


def screens(targets: Sequence[Target], clients: int) -> list[Target]:
    """The target of each screen: every API_SHARE-th one the API, the others the pages, views mixed."""
    api = [t for t in targets if t.body is None]
    pages = [t for t in targets if t.body is not None]
    out = []
    for c in range(clients):
        pool = api if (c % API_SHARE == 0 or not pages) else pages
        out.append(pool[(c // API_SHARE if pool is api else c) % len(pool)])
    return out


def run_screens(
    base: str,
    targets: Sequence[Target],
    clients: int,
    seconds: float,
    period: float,
    tally: Tally,
    *,
    stop: threading.Event | None = None,
    on_answer: Callable[[Target, Answer], None] | None = None,
    max_threads: int = 128,
) -> None:
    """``clients`` screens, each polling its target every ``period`` seconds for ``seconds`` (open loop:
    a slow answer does not delay the next poll, and latency counts from the planned send time)."""
    stop = stop or threading.Event()
    plan = screens(targets, clients)
    keys: list[str | None] = [None] * clients
    rng = random.Random(clients)
    queue = [(period * c / clients + rng.random() * 0.05, c) for c in range(clients)]
    heapq.heapify(queue)
    start = time.perf_counter()

    def one(at: float, c: int) -> None:
        late = max(0.0, time.perf_counter() - (start + at))
        answer = send(base, plan[c], keys[c])
        if answer.key is not None:
            keys[c] = answer.key
        tally.add(plan[c], answer, late)
        if on_answer is not None:
            on_answer(plan[c], answer)

    with ThreadPoolExecutor(max_workers=min(max(clients, 4), max_threads)) as pool:
        while queue and not stop.is_set():
            at, c = heapq.heappop(queue)
            if at >= seconds:
                break
            delay = start + at - time.perf_counter()
            if delay > 0 and stop.wait(delay):
                break
            pool.submit(one, at, c)
            heapq.heappush(queue, (at + period, c))
