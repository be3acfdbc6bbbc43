"""Hand-written runtime helpers imported by the generated modules (``surrogen.runtime.<backend>``).

Each backend's generated code imports only its own runtime module, so ``surrogen.jax`` needs JAX
alone and ``surrogen.numba_cpu`` Numba alone. A package generated from a user's own specs imports
these modules from the installed ``surrogen`` instead of carrying copies.
"""
