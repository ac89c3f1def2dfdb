"""Cosimulation helpers.

- :mod:`sim.tb.toolchain` (pytest side): the tool environment, Verilog generation, the
  cocotb runner, one build folder per simulator and parameter set under ``sim_build/``.
- :mod:`sim.tb.stream` (cocotb side): the clocked testbench base, one generic stream
  driver and monitor with random ``valid``/``ready`` stalls, and the scoreboard.
- :mod:`sim.tb.lanes`: lane and struct payloads as Python integers, both ways.
"""
