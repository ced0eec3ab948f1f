"""Performance tools: the benchmark, the soak and the screenshots (tools; nothing serving requests imports them).

bench        one benchmark run over its datasets and sections (``python -m dashboard bench``)
config       modes, sections and the fixed references of a run
datasets     seeded districts, made once and reused
transfer     a seeded SQLite district copied into PostgreSQL row for row (COPY), instead of a second seed
snapshots    sections a, a', e: snapshots cold and warm, through the rollups, the slide-deck export
coverage     section g: every filter alone and in pairs × every period, cold through the rollups
viewprofile  where a slow view's cold time went: each SQL statement's time, a cProfile of our code
load         sections b, c, d: gunicorn under open-loop load, worker memory, feed latency; h: make run's server
probes       section f: pandas against plain SQL, each in its own process
profile      py-spy's sampled profiles of the served processes during each load level
firststart   section firststart: make run on empty data until the wall shows its board
report       the run's summary lines, Markdown and JSON files
targets      issue 16's targets against the run's figures: met, missed (with its profile), not measured
server       the instrumented production app under gunicorn (``dashboard.perf.server:wsgi_app()``) or make run's server
client       the open-loop HTTP client: what a screen sends, many screens at once
stats        percentiles and summaries of measured seconds
soak         many screens, then a wall tab, for a long time with the live feed (``python -m dashboard soak``)
wallsoak     the wall in headless Chromium for thousands of refresh cycles: JS heap, DOM nodes, listeners
screenshots  headless-Chromium pictures of every page and wall size
"""
