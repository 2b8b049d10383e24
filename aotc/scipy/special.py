"""`import aotc.scipy.special`: the names of jax.scipy.special that aotc implements, re-exported
from aotc.lax, aotc.nn and aotc.numpy under scipy's names. Works eagerly outside a trace too.

Example:
    >>> import aotc.scipy.special as sps
    >>> aotc.grad(lambda x: sps.gammaln(x).sum())(x)    # digamma(x)

LEFT_OUT lists the jax.scipy.special names aotc does not have yet, with the reason.
"""

from aotc.frontend.lax import bessel_i0e as i0e
from aotc.frontend.lax import bessel_i1e as i1e
from aotc.frontend.lax import digamma, erf, erfc, polygamma, zeta
from aotc.frontend.lax import erf_inv as erfinv
from aotc.frontend.lax import lgamma as gammaln
from aotc.frontend.nn import log_softmax, logsumexp, softmax
from aotc.frontend.nn import sigmoid as expit
from aotc.frontend.numpy import i0
from aotc.frontend.trace.eager import wrap_namespace as _wrap_namespace

__all__ = ["digamma", "erf", "erfc", "erfinv", "expit", "gammaln", "i0", "i0e", "i1e",
           "log_softmax", "logsumexp", "polygamma", "softmax", "zeta"]

_NOT_YET = "not in aotc yet: a decomposition into core ops, as JAX writes it, is still to do"
LEFT_OUT = {
    "i1": "exp(|x|) * i1e(x): " + _NOT_YET,
    "xlogy": _NOT_YET, "xlog1py": _NOT_YET, "entr": _NOT_YET, "logit": _NOT_YET,
    "gamma": _NOT_YET, "gammasgn": _NOT_YET, "betaln": _NOT_YET, "beta": _NOT_YET,
    "ndtr": _NOT_YET, "ndtri": _NOT_YET, "log_ndtr": _NOT_YET, "kl_div": _NOT_YET,
    "rel_entr": _NOT_YET, "multigammaln": _NOT_YET, "factorial": _NOT_YET,
    "gammainc": "JAX's version is a while loop with a custom JVP; reverse mode through a "
                "while loop needs a counted loop in aotc",
    "gammaincc": "as gammainc", "betainc": "as gammainc (a while loop)",
    "expi": "series and continued fractions in JAX; not ported",
    "exp1": "as expi", "expn": "as expi", "spence": _NOT_YET, "sph_harm": "not ported",
    "sph_harm_y": "not ported", "lpmn": "not ported", "lpmn_values": "not ported",
    "bernoulli": "not ported", "poch": _NOT_YET, "hyp1f1": "not ported",
    "hyp2f1": "not ported", "fresnel": "not ported", "bessel_jn": "not ported",
    "boxcox": _NOT_YET, "boxcox1p": _NOT_YET, "comb": _NOT_YET, "loggamma": _NOT_YET,
    "dawsn": "not ported", "erfcx": "not ported", "owens_t": "not ported", "sici": "not ported",
    "wofz": "complex-valued; not ported",
}

_wrap_namespace(globals())
