"""Routers for engrammar: ``softmax_router``, ``topk_router``, ``hash_router`` and ``token_router``.

A router maps its input (B, T, in_features) to non-negative weights over E choices (B, T, E); see
:mod:`engrammar.router` for the contract. Use one in a mixture of experts by name::

    mix: {use: moe, router: {use: topk_router, in: ctrl, top_k: 1, capacity_factor: 1.25}, experts: [a, b, c]}

or build it alone (``engrammar.build("topk_router", in_features=16, num_experts=4)``); importing
this package is not needed. The PULSE tutorial's ``TokenToStateRouter(token_dim, state_dim,
num_states, num_heads)`` is :class:`engrammar_routers.token_router.TokenToStateRouter`; from
another plugin, build ``token_router`` by name and call its ``route(tokens, states)``.
"""

from importlib.metadata import version as _version

__version__ = _version("engrammar-routers")  # the release version, set once in core (CHANGELOG.md)
