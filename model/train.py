"""``python -m model.train``: train WRN-20-k with 1-bit saved activations (see
:mod:`model.nn.train`; ``--help`` lists the options)."""

import sys

from model.nn.train import main

if __name__ == "__main__":
    sys.exit(main())
