"""Pure builders of component trees: handed what they draw, never fetch."""
