"""Coordinate systems a hall's GIS export comes in, converted to the maps' system (WGS 84 longitude/latitude).

* **CGCS2000** geographic (EPSG:4490) differs from WGS 84 by centimetres: taken as it is.
* **Projected** systems (CGCS2000 / Gauss-Kruger zones such as EPSG:4549, Web Mercator, any EPSG code or
  a shapefile's ``.prj``) go through pyproj.
* **GCJ-02** (the obfuscated "Mars" coordinates of Chinese web maps: Gaode/AMap, Tencent) has no EPSG
  code and no pyproj pipeline. Its forward formula is public; the inverse is found by fixed-point
  iteration to 1e-7° (about 1 cm). Written here because the PyPI packages that carry it are either
  unmaintained (eviltransform, 2015) or pull in GDAL through fiona (coord-convert) for 30 lines of
  arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

WGS84 = "EPSG:4326"
NAMED = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490", "gcj02": "gcj02"}
CHOICES = "wgs84, cgcs2000, gcj02 or EPSG:<code>"

Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

# The GCJ-02 forward transform (Krasovsky 1940 ellipsoid constants, as published).
_A = 6378245.0
_EE = 0.00669342162296594323


def _delta(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lng - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    wave = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat += wave + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lng += wave + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lng += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    d_lat = d_lat * 180.0 / ((_A * (1 - _EE)) / (magic * np.sqrt(magic)) * math.pi)
    d_lng = d_lng * 180.0 / (_A / np.sqrt(magic) * np.cos(rad) * math.pi)
    return d_lng, d_lat


def wgs84_to_gcj02(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 (what a Chinese web map shows for a GPS position)."""
    d_lng, d_lat = _delta(np.asarray(lng, float), np.asarray(lat, float))
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84, by iterating the forward transform until it lands on the given point."""
    g_lng, g_lat = np.asarray(lng, float), np.asarray(lat, float)
    w_lng, w_lat = g_lng.copy(), g_lat.copy()
    for _ in range(30):
        f_lng, f_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = f_lng - g_lng, f_lat - g_lat
        w_lng, w_lat = w_lng - e_lng, w_lat - e_lat
        if max(float(np.max(np.abs(e_lng), initial=0)), float(np.max(np.abs(e_lat), initial=0))) < 1e-8:
            break
    return w_lng, w_lat


def parse_crs(text: str) -> str:
    """A ``--crs`` value as a canonical name (``gcj02`` or an EPSG/WKT string pyproj reads).

    Raises ValueError with the accepted forms for anything else."""
    key = text.strip().lower().replace("-", "").replace("_", "")
    if key in NAMED:
        return NAMED[key]
    try:
        CRS.from_user_input(text.strip())
    except CRSError as exc:
        raise ValueError(f"unknown coordinate system {text!r}: use {CHOICES}") from exc
    return text.strip()


def to_wgs84(crs: str) -> Transform | None:
    """A vectorised transform from ``crs`` to WGS 84 longitude/latitude; None when none is needed."""
    if crs == "gcj02":
        return gcj02_to_wgs84
    source = CRS.from_user_input(crs)
    datum = source.datum.name if source.datum is not None else ""
    if source.is_geographic and datum in {
        "World Geodetic System 1984",
        "World Geodetic System 1984 ensemble",
        "China 2000",
    }:
        return None  # CGCS2000 and WGS 84 agree to centimetres: nothing to convert
    transformer = Transformer.from_crs(source, CRS.from_user_input(WGS84), always_xy=True)
    return lambda x, y: transformer.transform(x, y)
