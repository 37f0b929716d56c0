"""Synthetic demo data and the one-command demo."""
