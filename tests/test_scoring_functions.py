"""The generator scores candidate forms in float32 and float64 with NumPy, and the scores choose
the emitted forms and fill the docs' tables. NumPy's own float32/float64 transcendental functions
differ between CPUs (SIMD versions with their own errors where AVX-512 is present), so the
generator evaluates them through ``numeric._NUMPY_EXTRAS``: long double, rounded once. These
must be (nearly) correctly rounded on any x86-64 machine, against mpmath at 40 digits."""

import mpmath
import numpy as np
import pytest

from surrogen.generator.numeric import _NUMPY_EXTRAS, _TRANSCENDENTAL

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="long double is double on this platform"
)

# name: (mpmath function, interval of inputs)
REFERENCE = {
    "exp": (mpmath.exp, (-80.0, 80.0)),
    "exp2": (lambda v: mpmath.power(2, v), (-120.0, 120.0)),
    "expm1": (mpmath.expm1, (-5.0, 5.0)),
    "log": (mpmath.log, (1e-3, 1e3)),
    "log2": (lambda v: mpmath.log(v, 2), (1e-3, 1e3)),
    "log10": (mpmath.log10, (1e-3, 1e3)),
    "log1p": (mpmath.log1p, (-0.9, 10.0)),
    "sin": (mpmath.sin, (-6.0, 6.0)),
    "cos": (mpmath.cos, (-6.0, 6.0)),
    "tan": (mpmath.tan, (-1.5, 1.5)),
    "arcsin": (mpmath.asin, (-0.99, 0.99)),
    "arccos": (mpmath.acos, (-0.99, 0.99)),
    "arctan": (mpmath.atan, (-20.0, 20.0)),
    "sinh": (mpmath.sinh, (-20.0, 20.0)),
    "cosh": (mpmath.cosh, (-20.0, 20.0)),
    "tanh": (mpmath.tanh, (-5.0, 5.0)),
    "arcsinh": (mpmath.asinh, (-50.0, 50.0)),
    "arccosh": (mpmath.acosh, (1.0, 50.0)),
    "arctanh": (mpmath.atanh, (-0.99, 0.99)),
    "cbrt": (lambda v: mpmath.sign(v) * mpmath.cbrt(abs(v)), (-50.0, 50.0)),
}


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(
        np.abs(want)
    ).astype(np.float64)


def _check(got: np.ndarray, exact: list[mpmath.mpf], dtype: type) -> None:
    want = np.array([float(v) for v in exact]).astype(dtype)  # float32: rounded twice, 2**-29
    assert got.dtype == dtype
    ulps = _ulps(got, want)
    assert ulps.max() <= 1.0, f"{ulps.max()} ulp"
    assert (ulps == 0).mean() >= 0.99, f"only {(ulps == 0).mean():.1%} correctly rounded"


def test_every_transcendental_function_is_covered():
    assert set(_TRANSCENDENTAL) == {*REFERENCE, "power", "arctan2"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_scoring_functions_are_correctly_rounded(name, dtype):
    f, (lo, hi) = REFERENCE[name]
    xs = np.random.default_rng(len(name)).uniform(lo, hi, 300).astype(dtype)
    with mpmath.workdps(40):
        exact = [f(mpmath.mpf(float(v))) for v in xs]
    _check(_NUMPY_EXTRAS[name](xs), exact, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scoring_power_and_arctan2_are_correctly_rounded(dtype):
    rng = np.random.default_rng(5)
    base = rng.uniform(0.01, 30.0, 300).astype(dtype)
    for exponent in (1.5, -1.5, 0.3, 3, -2.7):
        with mpmath.workdps(40):
            exact = [mpmath.power(mpmath.mpf(float(b)), mpmath.mpf(exponent)) for b in base]
        _check(_NUMPY_EXTRAS["power"](base, exponent), exact, dtype)
    y, x = (rng.uniform(-5.0, 5.0, 300).astype(dtype) for _ in range(2))
    with mpmath.workdps(40):
        pairs = zip(y.tolist(), x.tolist(), strict=True)
        exact = [mpmath.atan2(mpmath.mpf(a), mpmath.mpf(b)) for a, b in pairs]
    _check(_NUMPY_EXTRAS["arctan2"](y, x), exact, dtype)
