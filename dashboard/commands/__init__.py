"""Small command modules that do not belong to a bigger core module."""
