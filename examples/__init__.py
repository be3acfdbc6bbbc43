"""Training examples for the generated surrogate gradients (issue 3).

The package holds small spiking-network building blocks (``examples.snn``), the lecture's encoders
(``examples.encoders``), the Randman benchmark (``examples.randman``) and one-command scripts that
train with ``generated.jax`` surrogates. Nothing here is imported by ``generated``.
"""
