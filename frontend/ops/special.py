"""Special functions that JAX exports as CHLO ops beside elementwise.py's gamma family:
chlo.bessel_i1e, with bessel_i0e (a decomposition into core ops, as JAX lowers it) for its
derivative, chlo.next_after, and chlo.zeta with its derivative in both operands. Each is one
family stanza (type, numpy reference, JVP, batching, "same_shape")."""

import math

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.ir import ir
from aotc.frontend.core.registry import register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.elementwise import _binary_family, _elementwise_dims, _unary_family, _zeta
from aotc.frontend.ops.rules import defelementwise_shard

# Cephes' Chebyshev coefficients of exp(-x) I0(x) on [0, 8] and of sqrt(x) exp(-x) I0(x) on
# (8, inf) (JAX's _i0e_impl64).
_I0E_A = (
    -4.41534164647933937950E-18, 3.33079451882223809783E-17, -2.43127984654795469359E-16,
    1.71539128555513303061E-15, -1.16853328779934516808E-14, 7.67618549860493561688E-14,
    -4.85644678311192946090E-13, 2.95505266312963983461E-12, -1.72682629144155570723E-11,
    9.67580903537323691224E-11, -5.18979560163526290666E-10, 2.65982372468238665035E-9,
    -1.30002500998624804212E-8, 6.04699502254191894932E-8, -2.67079385394061173391E-7,
    1.11738753912010371815E-6, -4.41673835845875056359E-6, 1.64484480707288970893E-5,
    -5.75419501008210370398E-5, 1.88502885095841655729E-4, -5.76375574538582365885E-4,
    1.63947561694133579842E-3, -4.32430999505057594430E-3, 1.05464603945949983183E-2,
    -2.37374148058994688156E-2, 4.93052842396707084878E-2, -9.49010970480476444210E-2,
    1.71620901522208775349E-1, -3.04682672343198398683E-1, 6.76795274409476084995E-1)
_I0E_B = (
    -7.23318048787475395456E-18, -4.83050448594418207126E-18, 4.46562142029675999901E-17,
    3.46122286769746109310E-17, -2.82762398051658348494E-16, -3.42548561967721913462E-16,
    1.77256013305652638360E-15, 3.81168066935262242075E-15, -9.55484669882830764870E-15,
    -4.15056934728722208663E-14, 1.54008621752140982691E-14, 3.85277838274214270114E-13,
    7.18012445138366623367E-13, -1.79417853150680611778E-12, -1.32158118404477131188E-11,
    -3.14991652796324136454E-11, 1.18891471078464383424E-11, 4.94060238822496958910E-10,
    3.39623202570838634515E-9, 2.26666899049817806459E-8, 2.04891858946906374183E-7,
    2.89137052083475648297E-6, 6.88975834691682398426E-5, 3.36911647825569408990E-3,
    8.04490411014108831608E-1)


def _chebyshev(t: ir.Value, coefficients) -> ir.Value:
    """Cephes' chbevl: the Chebyshev series at t, by Clenshaw's recurrence."""
    b0 = b1 = b2 = values.zeros_like(t)
    for c in coefficients:
        b2, b1 = b1, b0
        b0 = ew.add(ew.subtract(ew.multiply(t, b1), b2), values.full_like(t, c))
    return ew.multiply(ew.subtract(b0, b2), values.full_like(t, 0.5))


def bessel_i0e(x: ir.Value) -> ir.Value:
    """exp(-|x|) I0(x) from core ops (JAX lowers bessel_i0e the same way; there is no CHLO op).
    Written so that its derivative is JAX's i1e(x) - sign(x) i0e(x): |x| is x * x at 0 (slope
    0 there), and the branch for |x| > 8 never sees a smaller |x| (no inf in the other branch's
    derivative)."""
    c = lambda v: values.full_like(x, v)
    a = ew.select(ew.compare("GT", x, c(0.0)), x,
                  ew.select(ew.compare("LT", x, c(0.0)), ew.negate(x), ew.multiply(x, x)))
    small = _chebyshev(ew.subtract(ew.multiply(c(0.5), a), c(2.0)), _I0E_A)
    far = ew.maximum(a, c(8.0))
    large = ew.divide(_chebyshev(ew.subtract(ew.divide(c(32.0), far), c(2.0)), _I0E_B),
                      ew.sqrt(far))
    return ew.select(ew.compare("LE", a, c(8.0)), small, large)


def _i1e_reference(x):
    """exp(-|x|) I1(x) in float64: the power series up to |x| = 30, Hankel's asymptotic series
    beyond."""
    x64 = np.asarray(x, np.float64)
    a = np.abs(x64)
    near = np.minimum(a, 30.0)
    half = near / 2
    term, series = half.copy(), half.copy()
    for k in range(1, 120):
        term = term * half * half / (k * (k + 1))
        series = series + term
    near_value = series * np.exp(-near)
    far = np.maximum(a, 30.0)
    # I1(x) e^-x ~ (2 pi x)^-1/2 sum_k (-1)^k prod_{j<=k} (4 - (2j - 1)^2) / (k! (8x)^k)
    coefficient, far_sum = np.ones_like(far), np.ones_like(far)
    for k in range(1, 16):
        coefficient = -coefficient * (4.0 - (2 * k - 1) ** 2) / (k * 8 * far)
        far_sum = far_sum + coefficient
    far_value = far_sum / np.sqrt(2 * math.pi * far)
    out = np.sign(x64) * np.where(a <= 30.0, near_value, far_value)
    return out.astype(np.asarray(x).dtype)


def _i1e_derivative(x, y):
    """JAX's _bessel_i1e_jvp: i0e(x) - y (sign(x) + 1/x), and 1/2 at |x| <= eps."""
    eps = float(np.finfo(dtypes.from_mlir(values.element(x))).eps)
    not_tiny = ew.compare("GT", ew.abs(x), values.full_like(x, eps))
    safe = ew.select(not_tiny, x, values.full_like(x, eps))
    slope = ew.subtract(bessel_i0e(safe), ew.multiply(y, ew.add(
        ew.sign(safe), ew.divide(values.full_like(safe, 1.0), safe))))
    return ew.select(not_tiny, slope, values.full_like(x, 0.5))


bessel_i1e = _unary_family("chlo.bessel_i1e", _i1e_reference, derivative=_i1e_derivative)


def _next_after_jvp(ctx, primals, tangents):
    """nextafter(x, y) is x moved by one ulp toward y: x's tangent passes through (as convert's
    rounding does), y's only picks the direction (zero). JAX has no rule and refuses."""
    return [tangents[0] or values.Zero.of(ctx.results[0])]


next_after = _binary_family("chlo.next_after", np.nextafter, jvp=_next_after_jvp)


# Johansson's Euler-Maclaurin expansion of the Hurwitz zeta (arXiv:1309.2877, formula 5), which
# jax.scipy.special.zeta differentiates for its JVP: N terms summed, then an integral and M
# Bernoulli corrections; N = M = 8 for 32-bit floats and below, 16 for float64. These are
# (2j + 2)! / B_{2j+2}, j = 0..15.
_BERNOULLI_DIVISORS = (
    12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1892437580.3183792, 74724249600.0,
    -2950130727918.1646, 116467828143500.67, -4597978722407472.0, 1.8152105401943546e+17,
    -7.1661652561756672e+18, 2.8290224874426988e+20, -1.1167873437269486e+22,
    4.4085290965941376e+23, -1.7402642094226944e+25)


def _zeta_d_s(s: ir.Value, a: ir.Value) -> ir.Value:
    """d/ds of the expansion of zeta(s, a) (the derivative JAX's zeta JVP takes)."""
    terms = 16 if dtypes.from_mlir(values.element(s)) == np.float64 else 8
    c = lambda v: values.full_like(s, v)
    mul, add, sub, div = ew.multiply, ew.add, ew.subtract, ew.divide
    total = None
    for k in range(terms):  # d/ds (a + k)^-s = -(a + k)^-s log(a + k)
        base = add(a, c(float(k)))
        term = mul(ew.power(base, ew.negate(s)), ew.log(base))
        total = term if total is None else add(total, term)
    total = ew.negate(total)
    big = add(a, c(float(terms)))
    log_big, s_minus_1 = ew.log(big), sub(s, c(1.0))
    integral = div(ew.power(big, sub(c(1.0), s)), s_minus_1)  # I = big^(1-s) / (s - 1)
    total = sub(total, add(mul(integral, log_big), div(integral, s_minus_1)))
    head = ew.power(big, ew.negate(s))  # T0 = big^-s
    rising, rising_d = None, None  # P_m = prod_{i<=m} (s+i)/big and dP_m/ds
    corrections, corrections_d = c(0.5), c(0.0)
    for m in range(2 * terms - 1):
        factor = div(add(s, c(float(m))), big)
        if rising is None:
            rising, rising_d = factor, div(c(1.0), big)
        else:
            rising_d = add(mul(rising_d, factor), div(rising, big))
            rising = mul(rising, factor)
        if m % 2 == 0:
            divisor = c(_BERNOULLI_DIVISORS[m // 2])
            corrections = add(corrections, div(rising, divisor))
            corrections_d = add(corrections_d, div(rising_d, divisor))
    # d(T0 * corrections) = -T0 log(big) * corrections + T0 * d corrections
    return add(total, mul(head, sub(corrections_d, mul(log_big, corrections))))


def _zeta_jvp(ctx, primals, tangents):
    """q: d zeta(s, q)/dq = -s zeta(s + 1, q) exactly; s: the derivative of Johansson's
    expansion, as jax.scipy.special.zeta's JVP."""
    (s, q), (s_dot, q_dot) = primals, tangents
    out = values.Zero.of(ctx.results[0])
    if not values.is_zero(q_dot):
        out = ew.multiply(q_dot, ew.negate(ew.multiply(s, zeta(ew.add(
            s, values.full_like(s, 1.0)), q))))
    if not values.is_zero(s_dot):
        out = values.add_any(out, ew.multiply(s_dot, _zeta_d_s(s, q)))
    return [out]


zeta = _binary_family("chlo.zeta", _zeta, jvp=_zeta_jvp)

for _name in ("chlo.bessel_i1e", "chlo.next_after", "chlo.zeta"):
    register("dims", _name, _elementwise_dims)  # elementwise: operands and result share dims
defelementwise_shard("chlo.bessel_i1e", "chlo.next_after", "chlo.zeta")
