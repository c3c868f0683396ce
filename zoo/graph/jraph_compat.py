"""Compatibility shim for jraph 0.0.6.dev0, its latest release (2022), on current JAX.

A few jraph utilities (`zero_out_padding`, `get_fully_connected_graph`) call `jax.tree_map` and
`jax.tree_leaves`, which JAX removed in 0.6 in favour of `jax.tree.map` / `jax.tree.leaves`. Rather than
put those names back on the global `jax` module for everyone, jraph's own module gets a view of `jax` that
also has them. Import `jraph` through `zoo.graph` (which applies this once) and nothing else changes.
"""
from __future__ import annotations

import types

import jax

_REMOVED = {"tree_map": jax.tree.map, "tree_leaves": jax.tree.leaves}


class _JaxWithTreeAliases(types.ModuleType):
    """`jax` as jraph expects it: every attribute of the real module, plus the removed tree aliases."""

    def __getattr__(self, name):
        return getattr(jax, name)


def patch_jraph():
    """Give jraph's utilities the aliases they call (idempotent); returns the jraph module."""
    import jraph
    from jraph._src import utils

    if any(not hasattr(jax, name) for name in _REMOVED) and not isinstance(utils.jax, _JaxWithTreeAliases):
        view = _JaxWithTreeAliases("jax")
        for name, function in _REMOVED.items():
            setattr(view, name, getattr(jax, name, function))
        utils.jax = view
    return jraph
