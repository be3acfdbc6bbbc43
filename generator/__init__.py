"""surrogen's generator: YAML specs -> SymPy -> checks -> JAX / Numba CPU / Numba CUDA / docs.

Stages, one module each: ``spec`` (YAML -> Spec), ``symbolic`` (Spec -> SurrogateModel),
``checks`` (SurrogateModel -> CheckedModel), ``printers`` (SymPy -> code text), ``emit``
(templates -> files). ``python -m generator`` runs them all.
"""
