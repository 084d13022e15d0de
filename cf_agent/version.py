"""The package version, in the base layer so any layer may stamp it on what it writes."""

__version__ = "0.1.0"
