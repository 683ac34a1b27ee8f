"""Fixtures for the hold-back tests: news pages carrying the tags publishers paste."""
