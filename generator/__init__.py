"""surrogen's generator: YAML specs -> SymPy -> checks -> JAX / Numba CPU / Numba CUDA / docs.

Stages, one module each: ``spec`` (YAML -> Spec), ``symbolic`` (Spec -> SurrogateModel),
``checks`` (SurrogateModel -> CheckedModel), ``printers`` (SymPy -> code text), ``emit``
(templates -> files); ``backends`` holds one plug-in per target. The ``surrogen`` command
(``python -m surrogen.generator``) runs them all.
"""
