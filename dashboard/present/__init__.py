"""The presentation layer: what the screens, the slides and the briefings draw and say, from a snapshot.

panels     panel specs (charts and tables) built from a snapshot, in either language
figures    plotly figures of the panel specs, per screen variant and scale
maps       the map as the stage: quantile classes, names, outlined alerts
theme      colours and type that carry meaning
analysis   the written analysis (要点) generated from the metric registry
"""
