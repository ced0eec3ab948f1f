"""The synthetic Xiaoshan district: the seed and the live feed (tools; nothing serving requests imports them).

seed        runs the phases below in order into one database (``python -m dashboard seed``)
district    towns, villages and grids with polygons
geo         the illustrative polygons: outline, Voronoi cells, splits by weight
staff       departments and staff, and who acts on events
arrivals    where, when and what is reported, hour by hour
lifecycle   each event's planned path from report to archive
events      arrivals and plans as event, action and evaluation rows
history     the seed's event history in chunks (optionally in worker processes)
patrols     patrols and check-ins, day by day
video       video points and their outages
safety      110 statistics, key areas, safety inspections
times       epoch seconds and their storage text
draws       names, phone numbers, Poisson counts, weighted picks
writes      bulk inserts, sequences, fast loading of a fresh database
simulate    the live feed that continues the seed's history (``python -m dashboard simulate``)
feedpost    one feed per source: its lock file, and the post box through which a second one hands it a surge
"""
