"""Tests of :mod:`spec`, the design contract."""
