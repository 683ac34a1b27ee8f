"""Tests of the receipt store, run on SQLite and PostgreSQL."""
