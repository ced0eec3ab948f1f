"""Server-side PNG pictures of panels (maps in the deck, the PNG export), drawn by kaleido in Chromium.

One :class:`KaleidoRenderer` per process (:func:`get_renderer`): starting Chromium costs 3-5 s, a render
in the running browser 0.2-0.7 s. kaleido's page is not thread-safe (concurrent calls were seen to get
each other's images), so renders go through a lock, one at a time; a caller that cannot get its turn
within ``queue_timeout`` gets an ExportError rather than waiting forever.

Offline by construction: MathJax is switched off (kaleido would load it from a CDN), plotly.js comes
from the installed plotly package, and the world topojson that plotly's geo subplot always fetches is
replaced by empty local files (our maps draw only the district's own GeoJSON).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from dashboard.export.common import ExportError
from dashboard.present import mapnames
from dashboard.present.panels import ChartSpec

log = logging.getLogger(__name__)

T = TypeVar("T")
START_TIMEOUT = 60.0  # seconds to start Chromium
RENDER_TIMEOUT = 60.0  # seconds for one picture
QUEUE_TIMEOUT = 120.0  # seconds a caller waits for its turn
_TOPO_LAYERS = ("coastlines", "land", "ocean", "lakes", "rivers", "countries", "subunits")
_TOPO_NAMES = ("world", "asia", "usa", "europe", "africa", "north-america", "south-america")
CHROMIUM_HINT = "apt-get install --no-install-recommends chromium fonts-noto-cjk"


class Renderer(Protocol):
    """Anything that turns a plotly figure dict into PNG bytes (tests pass a fake)."""

    def render(self, figure: dict[str, Any], *, width: int, height: int, scale: float = 2.0) -> bytes: ...


class KaleidoRenderer:
    """A persistent kaleido/Chromium on its own event-loop thread, started on first use."""

    def __init__(
        self, *, render_timeout: float = RENDER_TIMEOUT, queue_timeout: float = QUEUE_TIMEOUT
    ) -> None:
        self.render_timeout = render_timeout
        self.queue_timeout = queue_timeout
        self.last_seconds: float | None = None  # duration of the newest render, for reports and logs
        self._lock = threading.Lock()  # the queue of one: kaleido mixes up concurrent renders
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None
        self._topo_dir: Path | None = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        return self._kaleido is not None and self._pid == os.getpid()

    def render(
        self, figure: dict[str, Any], *, width: int, height: int, scale: float = 2.0, fmt: str = "png"
    ) -> bytes:
        """PNG bytes of ``figure`` at ``width`` x ``height`` CSS pixels times ``scale`` (``fmt="svg"``: SVG
        text, where the tests read where Plotly put each text)."""
        if not self._lock.acquire(timeout=self.queue_timeout):
            raise ExportError(
                f"图片渲染繁忙 / the image renderer is busy; try again in a minute ({self.queue_timeout:.0f} s queue)"
            )
        try:
            started = time.perf_counter()
            png = self._render_locked(figure, width, height, scale, fmt)
            self.last_seconds = time.perf_counter() - started
            return png
        finally:
            self._lock.release()

    def _render_locked(
        self, figure: dict[str, Any], width: int, height: int, scale: float, fmt: str
    ) -> bytes:
        opts = {"format": fmt, "width": width, "height": height, "scale": scale}
        for attempt in (1, 2):
            self._start_locked()
            topojson = self._topo_dir.as_uri() + "/" if self._topo_dir else None
            try:
                png = self._call(
                    self._kaleido.calc_fig(figure, opts=opts, topojson=topojson), self.render_timeout
                )
                break
            except ExportError:
                raise
            except TimeoutError:
                self._stop_locked()  # a hung page: the next render starts a fresh browser
                raise ExportError(
                    f"图片渲染超时 / rendering the picture took over {self.render_timeout:.0f} s"
                ) from None
            except Exception as exc:
                if type(exc).__name__ == "KaleidoError":  # the figure's fault: the same again would fail
                    raise ExportError(
                        f"图片渲染失败 / rendering the picture failed: {_reason(exc)}"
                    ) from None
                # The browser's fault: a page just opened that had not loaded its scripts yet
                # ("kaleido_scopes is not defined", seen once in a suite run), or one that died. Once
                # more on a fresh browser.
                self._stop_locked()
                if attempt == 2:
                    raise ExportError(
                        f"图片渲染失败 / rendering the picture failed: {_reason(exc)}"
                    ) from None
                log.warning("rendering a picture failed (%s): once more on a fresh browser", _reason(exc))
        if fmt == "png" and (not isinstance(png, bytes) or not png.startswith(b"\x89PNG")):
            raise ExportError("图片渲染失败 / the renderer returned no PNG")
        return png

    def _start_locked(self) -> None:
        if self.running:
            return
        self._forget()  # after a fork the parent's browser and loop thread are not ours
        import kaleido

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="kaleido-renderer", daemon=True)
        thread.start()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()
        self._topo_dir = _empty_topojson_dir()
        try:
            self._kaleido = self._call(_open_kaleido(kaleido), START_TIMEOUT)
        except Exception as exc:
            self._stop_locked()
            raise ExportError(
                f"无法启动 Chromium / could not start Chromium for pictures ({_reason(exc)}); "
                f"install it with: {CHROMIUM_HINT}"
            ) from None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop Chromium and the loop thread (registered with atexit; safe to call twice)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._pid == os.getpid():
            if self._kaleido is not None and self._loop is not None:
                try:
                    self._call(self._kaleido.close(), 20)
                except Exception as exc:  # closing a dead browser: nothing left to do
                    log.debug("closing kaleido: %s", exc)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._loop is not None and not self._loop.is_running():
                self._loop.close()  # an unclosed loop warns from its finaliser, at some random later moment
            if self._topo_dir is not None:
                shutil.rmtree(self._topo_dir, ignore_errors=True)
        self._forget()

    def _forget(self) -> None:
        self._kaleido = self._loop = self._thread = self._topo_dir = self._pid = None


async def _open_kaleido(kaleido: Any) -> Any:
    browser = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT, mathjax=False)
    await browser.open()
    return browser


def _empty_topojson_dir() -> Path:
    """Empty world topojson files: plotly's geo subplot loads one even when the base map is hidden."""
    folder = Path(tempfile.mkdtemp(prefix="dashboard-topojson-"))
    topology = {
        "type": "Topology",
        "objects": {layer: {"type": "GeometryCollection", "geometries": []} for layer in _TOPO_LAYERS},
        "arcs": [],
    }
    text = json.dumps(topology)
    for name in _TOPO_NAMES:
        for resolution in ("110m", "50m"):
            (folder / f"{name}_{resolution}.json").write_text(text, encoding="utf-8")
    return folder


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


_RENDERER = KaleidoRenderer()  # the process's one renderer; Chromium starts on the first picture
atexit.register(_RENDERER.close)


def get_renderer() -> KaleidoRenderer:
    """The process-wide renderer (one Chromium per server process)."""
    return _RENDERER


def figure_for(spec: ChartSpec, geojson: dict[str, Any] | None = None, lang: str = "zh") -> dict[str, Any]:
    """The print-variant plotly figure of ``spec``: the screens' own converter, so pictures match them."""
    from dashboard.present import figures

    return dict(figures.from_spec(spec, "print", geojson=geojson, lang=lang))


def render_panel_png(
    spec: ChartSpec,
    *,
    width: int,
    height: int,
    scale: float = 2.0,
    geojson: dict[str, Any] | None = None,
    renderer: Renderer | None = None,
    lang: str = "zh",
    caption: str | None = None,
) -> bytes:
    """PNG bytes of one panel, drawn like the print variant of the screens.

    ``caption`` titles a picture that stands alone (a PNG export: what, where, as of when); pictures
    placed on a slide leave it out, the slide has its own title and footer.
    """
    figure = figure_for(spec, geojson, lang)
    layout = figure.setdefault("layout", {})
    layout.update({"width": width, "height": height})
    if caption:
        layout["title"] = {"text": caption, "x": 0.01, "xanchor": "left", "font": {"size": 20}}
        margin = dict(layout.get("margin") or {})
        margin["t"] = max(int(margin.get("t", 0)), 64)
        layout["margin"] = margin
    if spec.kind == "map":  # no script runs in the picture: its names are placed before the draw
        mapnames.place_names(figure, width, height)
    return (renderer or get_renderer()).render(figure, width=width, height=height, scale=scale)
