"""Bit-accurate reference model of the sbq gateware (numpy), and training (``model.nn``).

One file per hardware block, under the same name as in ``hw/``: ``lfsr``, ``binarize``,
``pack``, ``xnor_acc``. Every format comes from :mod:`spec`.
"""
