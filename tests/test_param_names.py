"""Every parameter name a user would plausibly write either works on every backend, or is refused
up front with a message that says why (never a SymPy error or a wrong value later)."""

import importlib
import textwrap

import mpmath
import numpy as np
import pytest

from surrogen.generator.__main__ import main
from surrogen.generator.backends import reserved_names
from surrogen.generator.spec import SpecError, load_spec

pytestmark = pytest.mark.xdist_group("generator")

# Names that collide with nothing in the generated code: SymPy's own names, NumPy/JAX helpers,
# Python built-ins the generated code does not call, and the old internal names.
ACCEPTED = [
    "select",
    "sum",
    "input",
    "len",
    "range",
    "beta",
    "gamma",
    "S",
    "N",
    "I",
    "Q",
    "O",
    "lam",
    "sigma",
    "theta",
    "tau",
    "width",
    "scale",
    "order",
    "like",
    "launch",
    "heaviside",
    "upcast",
    "dtype",
    "t0",
    "residuals",
    "primals",
    "tangents",
    "np",
    "lax",
    "f32",
    "n",
    "i",
]
REFUSED = {
    "x": "the input variable",
    "lambda": "a Python keyword",
    "exp": "a function of the spec language",
    "erf": "a function of the spec language",
    "pi": "a constant of the spec language",
    "E": "a constant of the spec language",
    "math": "used by the generated numba_cpu code",
    "abs": "used by the generated numba_cpu code",
    "max": "used by the generated numba_cpu code",
    "jnp": "used by the generated jax code",
    "jax": "used by the generated jax code",
    "float": "used by the generated jax code",
    "spiking": "used by the generated jax code",
    "origin": "used by the generated jax code",
    "numba": "used by the generated numba_cpu code",
    "g": "used by the generated numba_cpu code",
    "DEFAULTS": "used by the generated numba_cpu code",
    "cuda": "used by the generated numba_cuda code",
    "out": "used by the generated numba_cuda code",
    "torch": "used by the generated torch code",
    # Attributes of torch.nn.Module: the generated class stores its parameters as attributes.
    "type": "used by the generated torch code",
    "to": "used by the generated torch code",
    "training": "used by the generated torch code",
    "super": "used by the generated torch code",
}


def _spec_text(names: list[str], default: float) -> str:
    total = " + ".join(names)
    params = "\n".join(f"  {n}: {{default: {default!r}, doc: 'A slope term.'}}" for n in names)
    return textwrap.dedent(
        """\
        name: many_names
        title: Many names
        summary: A sigmoid whose slope is the sum of many parameters.
        params:
        {params}
        origin: 1/(1 + exp(-({total})*x))
        backward:
          - source: the test
            expr: ({total})*exp(-({total})*x)/(1 + exp(-({total})*x))**2
        """
    ).format(params=params, total=total)


@pytest.mark.parametrize("name, reason", sorted(REFUSED.items()))
def test_refused_names_say_why(name, reason, tmp_path):
    path = tmp_path / "many_names.yaml"
    path.write_text(_spec_text(["alpha", name], 2.0))
    with pytest.raises(SpecError) as err:
        load_spec(path, "specs/many_names.yaml", reserved=reserved_names())
    assert str(err.value) == (
        f"specs/many_names.yaml: params.{name}: parameter name {name!r} is {reason}"
    )


@pytest.mark.slow
def test_accepted_names_work_on_every_backend(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    specs.mkdir()
    default = 4.0 / len(ACCEPTED)  # the slopes sum to 4
    (specs / "many_names.yaml").write_text(_spec_text(ACCEPTED, default))
    assert main(["--specs", str(specs), "--out", str(tmp_path / "namepkg")]) == 0
    monkeypatch.syspath_prepend(str(tmp_path))
    xs = np.array([-3.0, -0.5, 0.0, 0.25, 2.0], dtype=np.float64)
    with mpmath.workdps(30):
        k = mpmath.mpf(4)
        want = np.array([float(k * mpmath.exp(-k * x) / (1 + mpmath.exp(-k * x)) ** 2) for x in xs])
    params = [default] * len(ACCEPTED)
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        mod = importlib.import_module("namepkg.jax.many_names")
        np.testing.assert_allclose(np.asarray(mod.grad(xs, *params)), want, rtol=1e-13)
        kw = dict(zip(ACCEPTED, params, strict=True))
        np.testing.assert_allclose(np.asarray(mod.grad(xs, **kw)), want, rtol=1e-13)
        np.testing.assert_allclose(
            np.asarray(jax.vmap(jax.grad(lambda v: mod.ManyNames()(v)))(xs)), want, rtol=1e-13
        )
    cpu = importlib.import_module("namepkg.numba_cpu.many_names")
    np.testing.assert_allclose(cpu.grad(xs, *params), want, rtol=1e-13)
    gpu = importlib.import_module("namepkg.numba_cuda.many_names")
    np.testing.assert_allclose(gpu.grad(xs, *params), want, rtol=1e-13)
    torch = pytest.importorskip("torch")
    tmod = importlib.import_module("namepkg.torch.many_names")
    t = torch.tensor(xs)
    np.testing.assert_allclose(tmod.grad(t, *params).numpy(), want, rtol=1e-13)
    np.testing.assert_allclose(tmod.grad(t, **kw).numpy(), want, rtol=1e-13)
    v = t.clone().requires_grad_()
    tmod.ManyNames()(v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), want, rtol=1e-13)
