"""Atelier: an open, self-hostable platform for AI-made media."""

__version__ = "0.1.0"
