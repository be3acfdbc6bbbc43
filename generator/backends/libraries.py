"""The SNN libraries whose surrogates the presets reproduce: each preset in a spec names one of
these, and a presets backend generates the modules of the libraries of its framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Library:
    name: (
        str  # as a spec's presets name it, and the module name surrogen.<framework>.presets.<name>
    )
    framework: str  # "jax" or "torch": the backend whose presets module reproduces it
    title: str  # as the docs write it
    module: str  # where its surrogates live in the library itself
    audited: str  # the version whose code the presets were checked against


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library("braintools", "jax", "braintools", "braintools.surrogate", "0.3.0"),
        Library("brainpy", "jax", "BrainPy", "brainpy.math.surrogate", "2.8.2, = braintools 0.3.0"),
        Library(
            "brainpy2",
            "jax",
            "BrainPy 2.x up to 2.6 (its own surrogates, before it re-exported braintools)",
            "brainpy.math.surrogate",
            "2.6.0",
        ),
        Library("spyx", "jax", "Spyx", "spyx.axn", "1.0.0"),
        Library("jaxsnn", "jax", "jaxsnn", "jaxsnn.discrete.functional.threshold", "0.3.0"),
        Library("snnax", "jax", "snnax", "snnax.functional.surrogate", "0.0.1"),
        Library("rockpool", "torch", "Rockpool", "rockpool.nn.modules.torch", "3.1.0"),
        Library(
            "spikingjelly",
            "torch",
            "SpikingJelly",
            "spikingjelly.activation_based.surrogate",
            "2.0.0",
        ),
        Library(
            "spikingjelly_cupy",
            "torch",
            "SpikingJelly's CuPy neuron kernels (cuda_code, up to its 2026 master)",
            "spikingjelly.activation_based.surrogate",
            "commit 33b051a5 and master of 2026-08-08",
        ),
        Library("snntorch", "torch", "snnTorch", "snntorch.surrogate", "1.0.0"),
        Library("norse", "torch", "Norse", "norse.torch.functional.threshold", "1.1.0"),
        Library("sinabs", "torch", "sinabs", "sinabs.activation.surrogate_gradient_fn", "3.1.3"),
        Library("lava_dl", "torch", "lava-dl", "lava.lib.dl.slayer.spike", "0.6.0"),
    )
}
