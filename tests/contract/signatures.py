"""The shape half of a contract: a fake offers its adapter's public methods, with the same parameters."""

from __future__ import annotations

import inspect


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in inspect.getmembers(cls, callable)
            if not name.startswith("_")}


def assert_same_methods(fake: type, adapter: type, *, fake_only: set[str] = frozenset(),
                        not_faked: set[str] = frozenset()) -> None:
    """Every public method of the fake is one of the adapter's, with the same parameter names, kinds
    and defaults; `fake_only` names the fake's own test helpers. The adapter's other methods are
    those listed in `not_faked` (the logic under unit test does not call them)."""
    faked, real = public_methods(fake), public_methods(adapter)
    assert set(faked) - set(real) == set(fake_only), f"{fake.__name__} has methods {adapter.__name__} lacks"
    assert set(real) - set(faked) == set(not_faked), f"{adapter.__name__} has methods {fake.__name__} lacks"
    for name in set(faked) & set(real):
        fake_parameters = [(p.name, p.kind, p.default) for p in faked[name].parameters.values()]
        real_parameters = [(p.name, p.kind, p.default) for p in real[name].parameters.values()]
        assert fake_parameters == real_parameters, (
            f"{fake.__name__}.{name}{faked[name]} vs {adapter.__name__}.{name}{real[name]}")
