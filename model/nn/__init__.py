"""Reduced-memory training (SPEC section 10): layers that keep one stochastic bit per
activation for backward, binary weights, WRN-20-k, data and the training loop."""
