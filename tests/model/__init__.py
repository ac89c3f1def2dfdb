"""Tests of :mod:`model`, the bit-accurate reference model."""
