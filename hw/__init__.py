"""Amaranth 0.5 gateware of sbq: one block per file, each reading its formats from
:mod:`spec` and proven equal to the :mod:`model` block of the same name.

``lfsr.LfsrBank``, ``binarizer.StochasticBinarizer``, ``act_sram.ActivationSRAM``,
``xnor_acc.XnorAccumulator`` and ``store.BinarizeAndStore``.
"""
