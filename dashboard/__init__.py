"""Xiaoshan 一张网 situational-awareness dashboard: the application core (no Dash components here)."""

__version__ = "0.1.0"
