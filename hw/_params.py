"""Parameter checking for the gateware's constructors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from amaranth import Elaboratable


@contextmanager
def checked(component: Elaboratable) -> Iterator[None]:
    """Run a constructor's parameter checks; on a refusal, re-raise it and mark
    ``component`` as deliberately unused.

    Amaranth registers every Elaboratable in ``__new__`` and warns "created but never
    used" when an unelaborated one is collected; a refused constructor would add that
    noise to its clear error (and fail test runs with warnings as errors).
    """
    try:
        yield
    except (TypeError, ValueError):
        component._MustUse__silence = True  # type: ignore[attr-defined]
        raise
