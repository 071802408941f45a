"""Persistence: the database schema and its migrations, and the signed audit hash chain."""
