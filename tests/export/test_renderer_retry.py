"""A picture whose browser failed (not the figure) is drawn once more on a fresh browser; a figure kaleido
refuses is not tried twice. No Chromium here: the renderer's browser is stood in for."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.export import images
from dashboard.export.common import ExportError

PNG = b"\x89PNG\r\n\x1a\nfake"


class KaleidoError(Exception):
    """Named as kaleido names the error of a figure it cannot draw."""


def renderer_failing(monkeypatch: pytest.MonkeyPatch, failures: list[Exception]) -> tuple[Any, list[str]]:
    renderer = images.KaleidoRenderer()
    steps: list[str] = []

    class Browser:
        async def calc_fig(self, *_a: Any, **_k: Any) -> bytes:
            return PNG

    def start() -> None:
        if renderer._kaleido is None:
            steps.append("start")
            renderer._kaleido = Browser()

    def stop() -> None:
        steps.append("stop")
        renderer._kaleido = None

    def call(coro: Any, _timeout: float) -> Any:
        coro.close()
        if failures:
            raise failures.pop(0)
        return PNG

    monkeypatch.setattr(renderer, "_start_locked", start)
    monkeypatch.setattr(renderer, "_stop_locked", stop)
    monkeypatch.setattr(renderer, "_call", call)
    return renderer, steps


def test_a_browser_that_failed_is_replaced_and_the_picture_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    page_not_ready = RuntimeError("JavascriptError: ReferenceError: kaleido_scopes is not defined")
    renderer, steps = renderer_failing(monkeypatch, [page_not_ready])
    assert renderer.render({"data": []}, width=10, height=10) == PNG
    assert steps == ["start", "stop", "start"]


def test_a_browser_that_fails_twice_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer, steps = renderer_failing(monkeypatch, [RuntimeError("gone"), RuntimeError("gone again")])
    with pytest.raises(ExportError, match="rendering the picture failed"):
        renderer.render({"data": []}, width=10, height=10)
    assert steps == ["start", "stop", "start", "stop"]


def test_a_figure_kaleido_refuses_is_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer, steps = renderer_failing(monkeypatch, [KaleidoError("bad figure")])
    with pytest.raises(ExportError, match="bad figure"):
        renderer.render({"data": []}, width=10, height=10)
    assert steps == ["start"]  # the browser is fine: kept for the next picture
