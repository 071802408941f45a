"""Numeric core: pure, vectorised, no I/O."""
