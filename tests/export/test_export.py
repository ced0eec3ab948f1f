"""Export: the PPTX deck (native charts, tables, fonts, notes), its PDF, panel PNGs, the CLI and HTTP.

The decks come from a small seeded district (14 days, scale 0.1) through the real queries and panel
builders, so a chart in the deck is checked against the very ChartSpec the screens draw. Tests that
need Chromium, LibreOffice or poppler skip without them (and fail under CI=true).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from pptx import Presentation
from pptx.enum.chart import XL_CHART_TYPE
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.oxml.ns import qn

from dashboard import cli
from dashboard.core.clock import SystemClock
from dashboard.core.metrics import METRICS
from dashboard.core.scope import DISTRICT, Scope
from dashboard.core.settings import load_settings
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.export import images, pdf
from dashboard.export.common import PAGE_PANELS, TABLE_PANELS, ExportError, deck_keys
from dashboard.export.exporter import export_view
from dashboard.export.pptx import FONT, build_deck
from dashboard.export.queue import EXPORT_SLOTS, ExportBusy, ExportQueue
from dashboard.present import mapnames, panels
from dashboard.present.analysis import analyse
from dashboard.sample.seed import seed_database
from dashboard.service.cache import init_cache
from dashboard.source.engines import make_source_engine
from dashboard.source.queries.snapshot import build_snapshot
from dashboard.source.units import UnitDirectory
from dashboard.web import exports as export_http
from dashboard.web.context import AppContext, install_context
from tests.support.services import need_tool

NOW = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)  # 14:00 in Xiaoshan
TOWN_A, TOWN_B = "330109001", "330109002"  # 城厢街道, 北干街道
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CJK = re.compile(r"[\u4e00-\u9fff]")
EXPECTED_TYPES = {
    "line": {XL_CHART_TYPE.LINE, XL_CHART_TYPE.LINE_MARKERS},
    "bar": {XL_CHART_TYPE.COLUMN_CLUSTERED},
    "hbar": {XL_CHART_TYPE.BAR_CLUSTERED},
    "stacked_hbar": {XL_CHART_TYPE.BAR_STACKED},
    "stacked_bar": {XL_CHART_TYPE.COLUMN_STACKED},
    "donut": {XL_CHART_TYPE.DOUGHNUT},
}


# --- fixtures -------------------------------------------------------------------------------------


class SeededService:
    """The service's one method the export uses, computed straight from the seeded source, and a cache
    (the export queue's slots are locks in it)."""

    def __init__(self, url: str, cache_dir: Path) -> None:
        self.engine = make_source_engine(url)
        self.cache = init_cache(load_settings(env={}, CACHE_DIR=str(cache_dir)))

    def snapshot(self, view: ViewState, scope: Scope) -> SimpleNamespace:
        view = scope.apply(view)
        with self.engine.connect() as conn:
            return SimpleNamespace(snapshot=build_snapshot(conn, view, NOW), error=None)


class FakeRenderer:
    """Remembers the figures it was asked for and answers a tiny valid PNG (no Chromium needed)."""

    PNG = bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )

    def __init__(self) -> None:
        self.figures: list[dict[str, Any]] = []

    def render(self, figure: dict[str, Any], *, width: int, height: int, scale: float = 2.0) -> bytes:
        self.figures.append(figure)
        return self.PNG


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'district.db'}"
    seed_database(url, days=14, scale=0.1, now=NOW, progress=False, force=True)
    return url


@pytest.fixture(scope="module")
def service(seeded_url: str, tmp_path_factory: pytest.TempPathFactory) -> SeededService:
    return SeededService(seeded_url, tmp_path_factory.mktemp("export-cache"))


@pytest.fixture(scope="module")
def units(seeded_url: str) -> UnitDirectory:
    return UnitDirectory(make_source_engine(seeded_url))


@pytest.fixture(scope="module")
def district(service: SeededService) -> Snapshot:
    return service.snapshot(ViewState(), DISTRICT).snapshot


@pytest.fixture(scope="module")
def deck_and_renderer(district: Snapshot, units: UnitDirectory) -> tuple[bytes, FakeRenderer]:
    renderer = FakeRenderer()
    return build_deck(district, ViewState(), geojson_for=units.geojson, renderer=renderer), renderer


@pytest.fixture(scope="module")
def deck(deck_and_renderer: tuple[bytes, FakeRenderer]) -> Any:
    return Presentation(io.BytesIO(deck_and_renderer[0]))


# --- helpers --------------------------------------------------------------------------------------


def slide_text(slide: Any) -> str:
    texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
    return "\n".join(text for text in texts if text.strip())


def notes_text(slide: Any) -> str:
    return slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else ""


def slide_titled(prs: Any, title: str) -> Any:
    """The first slide whose title box (the first text box) reads ``title``."""
    for slide in prs.slides:
        boxes = [s for s in slide.shapes if s.has_text_frame and s.text_frame.text.strip()]
        if boxes and boxes[0].text_frame.text == title:
            return slide
    raise AssertionError(f"no slide titled {title!r}")


def chart_on(slide: Any) -> Any:
    charts = [shape.chart for shape in slide.shapes if shape.has_chart]
    assert len(charts) == 1, "one native chart per panel slide"
    return charts[0]


def same_values(got: tuple[Any, ...], want: list[float | None]) -> bool:
    return len(got) == len(want) and all(
        (g is None and w is None) or (g is not None and w is not None and abs(g - w) < 1e-9)
        for g, w in zip(got, want, strict=True)
    )


def png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


# --- the deck -------------------------------------------------------------------------------------


def test_deck_opens_with_title_kpis_and_rankings(deck: Any) -> None:
    title = slide_text(deck.slides[0])
    for expected in (
        "萧山区一张网 · 基层治理态势",
        "全区",
        "统计周期：本月",
        "数据截至 2026年11月28日 14:00",
    ):
        assert expected in title
    assert "来源：萧山区一张网数据库" in title
    assert slide_text(deck.slides[1]).startswith("要点")
    assert slide_text(deck.slides[2]).startswith("核心指标")
    assert deck.slide_width == 12192000 and deck.slide_height == 6858000
    rankings = slide_titled(deck, "排名")
    tables = [shape.table for shape in rankings.shapes if shape.has_table]
    assert len(tables) == 2


def test_kpi_tiles_show_value_unit_and_changes(deck: Any, district: Snapshot) -> None:
    text = slide_text(deck.slides[2])
    reported = district.kpis["reported"]
    assert METRICS["reported"].label_zh in text
    assert f"{reported.value:,.0f}" in text and "件" in text
    assert "环比" in text and "同比" in text


def test_hazard_tile_shows_the_units_inspected_with_their_definition(deck: Any, district: Snapshot) -> None:
    """检查单位 N 家 beside the hazard rate, and its definition in the speaker notes."""
    hazards = district.kpis["hazard_rectification_rate"]
    units = hazards.detail["units_inspected"]
    assert units and units == int(units)
    slide = next(s for s in deck.slides if METRICS["hazard_rectification_rate"].label_zh in slide_text(s))
    assert f"检查单位 {units:,.0f} 家" in slide_text(slide)
    notes = slide.notes_slide.notes_text_frame.text
    assert "检查单位（家）：期内接受安全检查的不同单位数" in notes


def test_every_chart_panel_is_a_native_chart_with_the_panel_data(deck: Any, district: Snapshot) -> None:
    checked = 0
    for key in deck_keys(PAGE_PANELS):
        if key in TABLE_PANELS:
            continue
        spec = panels.chart(district, key, "zh")
        if spec.is_empty and spec.kind != "map":  # nothing to draw: no slide at all
            with pytest.raises(AssertionError, match="no slide titled"):
                slide_titled(deck, spec.title("zh"))
            continue
        slide = slide_titled(deck, spec.title("zh"))
        if spec.kind == "map":
            assert [s for s in slide.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]
            continue
        chart = chart_on(slide)
        assert chart.chart_type in EXPECTED_TYPES[spec.kind], key
        plot = chart.plots[0]
        assert list(plot.categories) == spec.categories, key
        # A running bucket's partial values are series of their own after the lines (one point each):
        # the lines and those points together are the panel's values.
        lines = list(plot.series)[: len(spec.series)]
        apart = {s.name: s.values for s in list(plot.series)[len(spec.series) :]}
        assert [s.name for s in lines] == [s.name for s in spec.series], key
        for got, want in zip(lines, spec.series, strict=True):
            alone = apart.get(f"{want.name} · {spec.running_label}")
            values = list(got.values)
            if alone is not None and spec.running is not None:
                values[spec.running] = alone[spec.running]
            assert same_values(values, want.values), (key, got.name)
        checked += 1
    assert checked >= 5


def test_maps_are_server_rendered_pictures_of_the_spec(
    deck_and_renderer: tuple[bytes, FakeRenderer], district: Snapshot
) -> None:
    _deck, renderer = deck_and_renderer
    assert len(renderer.figures) == 1  # backlog_map (a meeting deck leaves the patrol map to the screens)
    spec = panels.chart(district, "backlog_map", "zh")
    areas = [t for t in renderer.figures[0]["data"] if t["type"] == "choropleth"]
    grey, classes = areas[0], areas[1]  # the units without a figure, then the classes: every unit once
    assert sorted([*grey["locations"], *classes["locations"]]) == sorted(spec.codes)


def test_ranking_tables_are_native_tables_with_the_panel_rows(deck: Any, district: Snapshot) -> None:
    towns = panels.table(district, "town_ranking", "zh")
    table = next(s.table for s in slide_titled(deck, "排名").shapes if s.has_table)
    assert [table.cell(0, c).text for c in range(len(towns.columns))] == towns.columns
    assert [table.cell(1, c).text for c in range(len(towns.columns))] == [str(v) for v in towns.rows[0]]


def test_chinese_runs_and_charts_carry_the_east_asian_font(deck: Any) -> None:
    runs = 0
    for slide in deck.slides:
        for part in (slide, slide.notes_slide):
            for run in part.element.iter(qn("a:r")):
                text = run.findtext(qn("a:t")) or ""
                if not CJK.search(text):
                    continue
                rpr = run.find(qn("a:rPr"))
                assert rpr is not None and rpr.get("lang") == "zh-CN", text
                assert rpr.find(qn("a:ea")).get("typeface") == FONT, text
                runs += 1
        for shape in slide.shapes:
            if shape.has_chart:
                defaults = list(shape.chart.element.iter(qn("a:defRPr")))
                assert defaults and all(d.find(qn("a:ea")) is not None for d in defaults)
    assert runs > 100


def test_every_slide_has_the_footer(deck: Any) -> None:
    for number, slide in enumerate(deck.slides, start=1):
        text = slide_text(slide)
        assert "数据截至 2026年11月28日 14:00" in text and "全区" in text
        assert f"{number} / {len(deck.slides)}" in text


def test_speaker_notes_carry_the_metric_definitions(deck: Any, district: Snapshot) -> None:
    assert METRICS["reported"].definition_zh in notes_text(deck.slides[2])
    assert METRICS["on_time_rate"].definition_zh in notes_text(slide_titled(deck, "排名"))
    trend = slide_titled(deck, panels.chart(district, "trend_period", "zh").title("zh"))
    assert "指标口径" in notes_text(trend) and METRICS["closed"].definition_zh in notes_text(trend)


def test_pages_choose_the_slides(district: Snapshot, units: UnitDirectory) -> None:
    renderer = FakeRenderer()
    data = build_deck(district, ViewState(), pages=["patrol"], geojson_for=units.geojson, renderer=renderer)
    prs = Presentation(io.BytesIO(data))
    titles = [slide_text(s).splitlines()[0] for s in prs.slides]
    assert "核心指标" not in titles and "排名" not in titles
    assert panels.chart(district, "patrol_coverage", "zh").title("zh") in titles
    assert panels.chart(district, "trend_period", "zh").title("zh") not in titles
    assert not renderer.figures  # the patrol page's deck slides hold no map


def test_english_deck(service: SeededService, units: UnitDirectory) -> None:
    view = ViewState(towns=(TOWN_A,), lang="en")
    data = build_deck(
        service.snapshot(view, DISTRICT).snapshot,
        view,
        pages=["rankings"],
        geojson_for=units.geojson,
        renderer=FakeRenderer(),
    )
    prs = Presentation(io.BytesIO(data))
    title = slide_text(prs.slides[0])
    assert (
        "Xiaoshan One-Network" in title and "Chengxiang" in title and "Data as of 2026-11-28 14:00" in title
    )
    assert "Source: Xiaoshan One-Network database" in title


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_of_the_deck_shows_the_chinese_text(
    deck_and_renderer: tuple[bytes, FakeRenderer], tmp_path: Path
) -> None:
    need_tool("soffice")
    pdftoppm, pdftotext = need_tool("pdftoppm"), need_tool("pdftotext")
    pptx_bytes = deck_and_renderer[0]
    target = tmp_path / "deck.pdf"
    target.write_bytes(pdf.pptx_to_pdf(pptx_bytes))
    assert target.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        [pdftotext, str(target), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    squashed = re.sub(r"\s+", "", text)  # pdftotext spaces out mixed CJK/latin runs
    for expected in ("萧山区一张网·基层治理态势", "核心指标", "排名", "数据截至", "来源：萧山区一张网数据库"):
        assert expected in squashed
    subprocess.run(
        [pdftoppm, "-png", "-r", "50", str(target), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(Presentation(io.BytesIO(pptx_bytes)).slides)
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in pages)


def test_pdf_without_libreoffice_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(
        ExportError, match=r"LibreOffice.*apt-get install --no-install-recommends libreoffice-impress"
    ):
        pdf.pptx_to_pdf(b"PK")


# --- PNG and the renderer -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer() -> Iterator[images.KaleidoRenderer]:
    """A renderer of our own (not the process one), closed at the end: no Chromium left running."""
    need_tool("chromium")
    own = images.KaleidoRenderer()
    yield own
    own.close()


def test_map_png(service: SeededService, units: UnitDirectory, renderer: images.KaleidoRenderer) -> None:
    payload, filename, mimetype = export_view(
        service,
        units.geojson,
        ViewState(),
        "png",
        scope=DISTRICT,
        panel="backlog_map",
        width=800,
        height=500,
        renderer=renderer,
    )
    assert payload.startswith(PNG_SIGNATURE) and png_size(payload) == (1600, 1000)
    assert mimetype == "image/png" and filename.endswith("-backlog_map-20261128-1400.png")
    assert len(payload) > 20_000  # a drawn map, not a blank page
    warm = renderer.last_seconds
    assert warm is not None and warm < 10


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_names_on_a_map_picture_sit_where_they_were_placed_and_never_meet(
    district: Snapshot, units: UnitDirectory, renderer: images.KaleidoRenderer, lang: str
) -> None:
    """No script runs in a picture, so its names are placed before the draw (present/mapnames.py): Plotly
    must draw each name where the placement computed it, and no two placed boxes may meet."""
    width, height = 1000, 620
    spec = panels.chart(district, "backlog_map", lang)
    figure = images.figure_for(spec, units.geojson(spec.map_level or "town", spec.map_parent), lang)
    figure["layout"].update({"width": width, "height": height})
    mapnames.place_names(figure, width, height)
    names = next(t for t in figure["data"] if t.get("type") == "scattergeo")
    assert names["text"], "a district map names its units"
    bounds = mapnames.map_bounds(figure["data"])
    assert bounds is not None
    frame = (0.0, 0.0, float(width), height - float(figure["layout"]["margin"]["b"]))
    projection = mapnames.Projection(bounds, frame)
    expected = [projection.to_px(lon, lat) for lon, lat in zip(names["lon"], names["lat"], strict=True)]
    svg = renderer.render(figure, width=width, height=height, scale=1, fmt="svg")
    text = svg.decode() if isinstance(svg, bytes) else str(svg)
    layer = text[text.index('class="trace scattergeo') :]
    found = re.findall(r'<text [^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"', layer)
    drawn = [(float(x), float(y)) for x, y in found][: len(expected)]
    assert len(drawn) == len(expected)
    for (ex, ey), (dx, dy) in zip(expected, drawn, strict=True):
        assert abs(ex - dx) < 2 and abs(ey - dy) < 2, (expected, drawn)
    size = names["textfont"]["size"]
    boxes = [
        (
            x - mapnames.text_width(t, size) / 2,
            y - size * mapnames.LINE / 2,
            x + mapnames.text_width(t, size) / 2,
            y + size * mapnames.LINE / 2,
        )
        for (x, y), t in zip(expected, names["text"], strict=True)
    ]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_a_failed_render_says_why_and_the_renderer_carries_on(renderer: images.KaleidoRenderer) -> None:
    with pytest.raises(ExportError, match=r"rendering the picture failed: .*layout"):
        renderer.render({"data": [], "layout": 5}, width=200, height=200)
    good = {"data": [{"type": "bar", "x": ["甲"], "y": [1]}], "layout": {}}
    assert renderer.render(good, width=200, height=200, scale=1).startswith(PNG_SIGNATURE)


def test_without_a_browser_the_renderer_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    own = images.KaleidoRenderer()
    try:
        with pytest.raises(ExportError, match="apt-get install --no-install-recommends chromium"):
            own.render({"data": [], "layout": {}}, width=100, height=100)
    finally:
        own.close()


def test_concurrent_renders_get_their_own_images(renderer: images.KaleidoRenderer) -> None:
    figures = [
        {"data": [{"type": "bar", "x": ["城厢", "北干"], "y": [1, 9]}], "layout": {"title": {"text": "甲"}}},
        {"data": [{"type": "bar", "x": ["城厢", "北干"], "y": [9, 1]}], "layout": {"title": {"text": "乙"}}},
    ]
    alone = [renderer.render(f, width=400, height=300, scale=1) for f in figures]
    assert alone[0] != alone[1]
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        results[i] = renderer.render(figures[i % 2], width=400, height=300, scale=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(results[i] == alone[i % 2] for i in range(6))


def test_concurrent_exports_of_two_towns_keep_their_own_figures(
    service: SeededService, units: UnitDirectory, renderer: images.KaleidoRenderer
) -> None:
    views = {TOWN_A: ViewState(towns=(TOWN_A,)), TOWN_B: ViewState(towns=(TOWN_B,))}
    decks: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def work(town: str) -> None:
        try:
            decks[town] = export_view(
                service,
                units.geojson,
                views[town],
                "pptx",
                pages=["overview"],
                renderer=renderer,
                scope=DISTRICT,
            )[0]
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(town,)) for town in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors
    names = {TOWN_A: "城厢街道", TOWN_B: "北干街道"}
    values = {}
    for town, data in decks.items():
        prs = Presentation(io.BytesIO(data))
        assert names[town] in slide_text(prs.slides[0])
        spec = panels.chart(service.snapshot(views[town], DISTRICT).snapshot, "by_category", "zh")
        chart = chart_on(slide_titled(prs, spec.title("zh")))
        assert list(chart.plots[0].categories) == spec.categories
        values[town] = [s.values for s in chart.plots[0].series]
        assert all(same_values(g, w.values) for g, w in zip(values[town], spec.series, strict=True))
    assert values[TOWN_A] != values[TOWN_B]


# --- command line ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--town", "nowhere"], "town"),
        (["--pages", "overview,bogus"], "pages"),
        (["--format", "png"], "--panel"),
        (["--format", "png", "--panel", "nope"], "panel"),
        (["--period", "fortnight"], "period"),
    ],
)
def test_cli_bad_flags_name_the_flag(
    flags: list[str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DASHBOARD_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")  # not the checkout's
    monkeypatch.setenv("DASHBOARD_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["export", "--out", str(tmp_path / "x.pptx"), *flags]
    assert cli.main(argv) == 2
    assert named in capsys.readouterr().err


def test_cli_unknown_flag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "--out", str(tmp_path / "x.pptx"), "--colour", "red"])
    assert exit_info.value.code == 2 and "--colour" in capsys.readouterr().err


def test_cli_writes_the_deck(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DASHBOARD_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("DASHBOARD_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "week.pptx"
    argv = ["export", "--out", str(out), "--pages", "rankings", "--town", "城厢街道", "--period", "week"]
    argv += ["--as-of", "2026-11-28T14:00", "--database-url", seeded_url]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "building the snapshot" in err and "wrote" in err
    prs = Presentation(str(out))
    assert "城厢街道" in slide_text(prs.slides[0]) and "当周" in slide_text(prs.slides[0])


# --- HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def client(service: SeededService, units: UnitDirectory, tmp_path: Path) -> Any:
    app = Flask("export-test")
    # Its own state and cache: the defaults are the checkout's data/ folder, which a test must not write.
    settings = load_settings(
        env={}, STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", CACHE_DIR=str(tmp_path / "cache")
    )
    install_context(app, AppContext(service, settings, SystemClock(), units))  # a fake service
    app.register_blueprint(export_http.export_blueprint)
    return app.test_client()


def test_http_deck(client: Any) -> None:
    response = client.get(f"/export/deck.pptx?town={TOWN_A}&pages=rankings")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    assert 'attachment; filename="xiaoshan-330109001-month-' in response.headers["Content-Disposition"]
    assert "城厢街道" in slide_text(Presentation(io.BytesIO(response.data)).slides[0])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("/export/deck.pptx?pages=bogus", "pages"),
        ("/export/deck.pptx?town=nowhere", "town"),
        ("/export/deck.pptx?colour=red", "colour"),
        ("/export/deck.pdf?panel=backlog_map", "panel"),
        ("/export/panel.png", "panel"),
        ("/export/panel.png?panel=backlog_map&width=abc", "width"),
        ("/export/panel.png?panel=backlog_map&height=99999", "height"),
        ("/export/panel.png?panel=backlog_map&pages=overview", "pages"),
    ],
)
def test_http_bad_parameter_is_a_400_naming_it(client: Any, query: str, param: str) -> None:
    response = client.get(query)
    assert response.status_code == 400
    assert response.get_json()["param"] == param


def test_http_png(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRenderer()
    monkeypatch.setattr(images, "get_renderer", lambda: fake)
    response = client.get("/export/panel.png?panel=by_category&width=640&height=400&lang=en")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data == FakeRenderer.PNG and len(fake.figures) == 1
    caption = fake.figures[0]["layout"]["title"]["text"]  # a picture on its own says what, where, when
    assert "Whole district" in caption and "Data as of 2026-11-28 14:00" in caption


def test_http_too_many_exports_is_a_429(client: Any, service: SeededService) -> None:
    queue = ExportQueue(service.cache)  # the deployment's one export queue (the button, the CLI, HTTP)
    with ExitStack() as held:
        for _ in range(EXPORT_SLOTS):
            held.enter_context(queue.slot())
        response = client.get("/export/deck.pptx?pages=rankings")
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert response.get_json()["error"] == "busy"
    assert client.get("/export/deck.pptx?pages=rankings").status_code == 200


def test_the_queue_hands_out_each_slot_once_across_threads(tmp_path: Path) -> None:
    queue = ExportQueue(init_cache(load_settings(env={}, CACHE_DIR=str(tmp_path / "cache"))), slots=3)
    gate, held, refused = threading.Barrier(8), [], []

    def take() -> None:
        gate.wait()
        try:
            with queue.slot() as index:
                held.append(index)
                time.sleep(0.3)
        except ExportBusy as exc:
            refused.append(exc.retry_after)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(held) == [0, 1, 2] and refused == [10] * 5


def test_http_pdf_without_libreoffice_is_a_503_saying_why(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    response = client.get("/export/deck.pdf?pages=rankings")
    assert response.status_code == 503
    assert "LibreOffice" in response.get_json()["message"]


def test_run_properties_follow_the_schema_order(deck_and_renderer: tuple[bytes, FakeRenderer]) -> None:
    """python-pptx would accept a misplaced <a:ea>; PowerPoint would not: check the schema order."""
    prs = Presentation(io.BytesIO(deck_and_renderer[0]))
    order = ["ln", "noFill", "solidFill", "latin", "ea", "cs", "sym"]
    for slide in list(prs.slides)[:3]:
        for rpr in slide.element.iter(qn("a:rPr")):
            tags = [etree.QName(child).localname for child in rpr]
            known = [order.index(t) for t in tags if t in order]
            assert known == sorted(known), tags


def test_a_stale_snapshot_is_flagged_on_the_title_slide(district: Snapshot) -> None:
    stale = SimpleNamespace(
        snapshot=district, stale=True, error="source database unavailable", age_seconds=300
    )
    service = SimpleNamespace(snapshot=lambda view, scope: stale)
    data = export_view(service, None, ViewState(), "pptx", pages=["rankings"], scope=DISTRICT)[0]
    assert "数据源暂不可用，显示 5 分钟 前的数据" in slide_text(Presentation(io.BytesIO(data)).slides[0])


def test_no_snapshot_at_all_is_an_export_error() -> None:
    down = SimpleNamespace(snapshot=None, stale=True, error="source database unavailable", age_seconds=None)
    service = SimpleNamespace(snapshot=lambda view, scope: down)
    with pytest.raises(ExportError, match="source database unavailable"):
        export_view(service, None, ViewState(), "pptx", scope=DISTRICT)


def test_every_bar_of_a_long_drill_down_list_is_named() -> None:
    """Plotly hides every other category label when they crowd: a village bar nobody can name."""
    from dashboard.present.figures import stacked_bar_figure
    from dashboard.present.theme import VARIANTS

    few = stacked_bar_figure([f"村{i}" for i in range(10)], [("<1天", [1.0] * 10, "#000")])
    assert few["layout"]["yaxis"]["dtick"] == 1
    assert few["layout"]["yaxis"]["tickfont"]["size"] == VARIANTS["browser"]["font"]
    many = stacked_bar_figure([f"村{i}" for i in range(30)], [("<1天", [1.0] * 30, "#000")])
    assert many["layout"]["yaxis"]["dtick"] == 1
    assert 9 <= many["layout"]["yaxis"]["tickfont"]["size"] < VARIANTS["browser"]["font"]


def test_the_running_day_is_a_marker_apart_on_the_slides_too(deck: Any, district: Snapshot) -> None:
    """At 14:00 today is half over: the lines stop before today and today's count so far is a series of its
    own, one open marker with no line, named "今日截至 14:00" in the legend (per-point dashes did not
    survive LibreOffice: the PDF showed a solid drop with a filled dot)."""
    spec = panels.chart(district, "trend_period", "zh")
    today = spec.running
    assert (
        today is not None
        and spec.categories[today].endswith("11-28")
        and spec.running_label == "今日截至 14:00"
    )
    slide = slide_titled(deck, spec.title("zh"))
    chart = next(shape.chart for shape in slide.shapes if shape.has_chart)
    series = list(chart.plots[0].series)
    assert [s.name for s in series][-2:] == ["上报 · 今日截至 14:00", "办结 · 今日截至 14:00"]
    for line, alone, source in zip(series[:2], series[-2:], spec.series[:2], strict=True):
        assert line.values[today] is None and line.values[today - 1] == source.values[today - 1]
        assert [v for v in alone.values if v is not None] == [source.values[today]]
        assert alone.values[today] == source.values[today]
        # One point: no line leads to it (its dashed line colour is only the legend's sample).
        assert alone._element.xpath("./c:spPr/a:ln/a:prstDash/@val") == ["dash"]
        assert alone._element.xpath("./c:marker/c:spPr/a:solidFill/a:srgbClr/@val") == ["FFFFFF"]
    assert chart.has_legend


def test_a_meeting_deck_is_short_with_no_leftover_or_empty_slides(deck: Any) -> None:
    """Issue 18: about twelve slides; no slide only for a table's leftover rows; no 暂无数据 slide."""
    titles = [slide_text(s).splitlines()[0] for s in deck.slides]
    assert len(titles) <= 12, titles
    assert [t for t in titles if "（续）" in t] == ["核心指标（续）"]
    assert not [t for t, s in zip(titles, deck.slides, strict=True) if "暂无数据" in slide_text(s)]


def test_the_summary_states_the_snapshots_own_figures(deck: Any, district: Snapshot) -> None:
    """The summary slide's numbers are the API's: each headline figure as the snapshot holds it."""
    text = slide_text(deck.slides[1])
    for key in ("reported", "closed", "backlog", "overdue_open", "on_time_rate"):
        kpi, metric = district.kpis[key], METRICS[key]
        assert f"{metric.label_zh} {kpi.value:,.{metric.fmt}f}" in text, key
    assert "[reported]" in notes_text(deck.slides[1])  # the notes name each sentence's metric keys


def test_table_headers_stay_on_one_line_and_long_names_are_shortened() -> None:
    from pptx.util import Inches, Pt

    from dashboard.export import pptx

    columns = ["#", "Unit", "On time", "Closed", "Overdue", "Avg h", "Due"]
    rows = [["1", "Guali Zhen Comprehensive enforcement platform", "100.0%", "95.8%", "3", "60.4", "24"]]
    width = Inches(6)
    size = pptx.table_font(columns, rows, width, 10.5, 2)
    widths = pptx._one_line_widths(columns, rows, width, size, 2)
    assert sum(widths) == width
    for c, name in enumerate(columns):
        if c != 1:  # every column but the name keeps its header and figures on one line
            assert widths[c] >= (pptx.text_width(name) + 1.2) * Pt(size), name
    short = pptx.fitted_cell(rows[0][1], widths[1], size)
    assert short.endswith("…") and short.startswith("Guali Zhen")
    assert pptx.fitted_cell("城厢街道", widths[1], size) == "城厢街道"


def test_hazard_tile_on_screen_names_the_units_inspected(district: Snapshot) -> None:
    """The screens' hazard tile carries 检查单位 N 家 (its hover), from the same snapshot detail."""
    from layouts.components import kpi_tile

    kpi = district.kpis["hazard_rectification_rate"]
    tile = kpi_tile(METRICS["hazard_rectification_rate"], kpi, "zh")
    assert f"检查单位 {kpi.detail['units_inspected']:,.0f} 家" in tile.title
    english = kpi_tile(METRICS["hazard_rectification_rate"], kpi, "en")
    assert f"Units inspected: {kpi.detail['units_inspected']:,.0f}" in english.title


# --- notes on the timeline ------------------------------------------------------------------------


def test_a_trend_slide_carries_the_notes_on_the_timeline(
    district: Snapshot, units: UnitDirectory, tmp_path: Path
) -> None:
    """A period as a labelled series across its days just above the lines, a moment as one labelled
    point; in the PDF (LibreOffice) the labels are there as text."""
    notes = [
        {
            "id": 1,
            "starts_at": "2026-11-19T16:00:00+00:00",
            "ends_at": "2026-11-22T16:00:00+00:00",
            "text": "亚运会安保",
            "towns": [],
        },
        {
            "id": 2,
            "starts_at": "2026-11-25T03:00:00+00:00",
            "ends_at": None,
            "text": "台风",
            "towns": [TOWN_A],
        },
    ]
    snap = replace(district, annotations=notes)
    spec = panels.chart(snap, "trend_period", "zh")  # the overview's trend slide
    assert [(m.text, m.end is None) for m in spec.marks] == [
        ("亚运会安保", False),
        ("台风（城厢街道）", True),
    ]
    data = build_deck(
        snap, ViewState(), pages=["overview"], geojson_for=units.geojson, renderer=FakeRenderer()
    )
    chart = chart_on(slide_titled(Presentation(io.BytesIO(data)), spec.title("zh")))
    series = {s.name: list(s.values) for s in chart.plots[0].series}
    band = series["亚运会安保"]
    days = [i for i, v in enumerate(band) if v is not None]
    assert [spec.categories[i] for i in days] == [
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]  # to midnight: ends on the 22nd
    top = max(v for s in spec.series for v in s.values if v is not None)
    assert all(band[i] > top for i in days)
    assert [spec.categories[i] for i, v in enumerate(series["台风（城厢街道）"]) if v is not None] == [
        "2026-11-25"
    ]
    summary = slide_titled(Presentation(io.BytesIO(data)), "要点")
    said = "".join(s.text_frame.text for s in summary.shapes if s.has_text_frame)
    assert "大事记" in said and "亚运会安保" in said  # the period's notes, in the written summary
    labels = "".join(chart.plots[0]._element.xpath(".//c:dLbl//a:t/text()"))
    assert "亚运会安保" in labels and "台风（城厢街道）" in labels
    if shutil.which("soffice") and shutil.which("pdftotext"):
        target = tmp_path / "deck.pdf"
        target.write_bytes(pdf.pptx_to_pdf(data))
        text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, check=True, timeout=60)
        assert "亚运会安保" in re.sub(r"\s+", "", text.stdout.decode())


def test_a_village_deck_says_its_110_figures_are_its_towns(
    service: SeededService, units: UnitDirectory
) -> None:
    """The daily 110 statistics are kept per town: a village's deck shows its town's, and its tile and
    its written 三降 line say so, as the screens' tiles do; the town's own deck does not."""
    town = service.snapshot(ViewState(towns=(TOWN_A,), period="quarter"), DISTRICT).snapshot
    village_code = str(town.backlog["units"][0]["code"])
    view = ViewState(towns=(TOWN_A,), village=village_code, period="quarter")
    village = service.snapshot(view, DISTRICT).snapshot
    assert village.backlog["level"] == "village" and "calls_110_yoy" in village.kpis
    label = METRICS["calls_110_yoy"].label_zh

    def tile_text(snap: Snapshot, view: ViewState) -> str:
        data = build_deck(snap, view, pages=["overview"], geojson_for=units.geojson, renderer=FakeRenderer())
        slides = Presentation(io.BytesIO(data)).slides
        kpis = [slide_text(s) for s in slides if slide_text(s).startswith("核心指标")]
        text = next(text for text in kpis if label in text)
        return text[text.index(label) :]

    assert "%（镇街）" in tile_text(village, view).splitlines()[1]
    # and the deck names the village, under its town, where it said "全区 · 村社 330109001001"
    name = village.backlog["breadcrumb"][-1][2]
    data = build_deck(village, view, pages=["overview"], geojson_for=units.geojson, renderer=FakeRenderer())
    first, kpis = (slide_text(s) for s in list(Presentation(io.BytesIO(data)).slides)[:3:2])
    for text in (first, kpis):
        assert f"城厢街道 · {name}" in text and village_code not in text and "全区" not in text, text
    english = replace(view, lang="en")
    data = build_deck(
        village, english, pages=["overview"], geojson_for=units.geojson, renderer=FakeRenderer()
    )
    first = slide_text(Presentation(io.BytesIO(data)).slides[0])
    short = village.backlog["breadcrumb"][-1][3].replace(", Chengxiang Jiedao", "")
    assert f"Chengxiang Jiedao · {short}" in first and first.count("Chengxiang") == 2, first  # title, footer
    assert "（镇街）" not in tile_text(town, ViewState(towns=(TOWN_A,), period="quarter"))
    targets = " ".join(line.text for line in analyse(village, "zh").lines["targets"])
    assert f"{label}（镇街）" in targets
    english = " ".join(line.text for line in analyse(village, "en").lines["targets"])
    assert f"{METRICS['calls_110_yoy'].label_en} (town)" in english
