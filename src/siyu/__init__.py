"""Siyu (私域): self-hosted private-domain customer operations for brands and chain stores."""

__version__ = "0.1.0"
