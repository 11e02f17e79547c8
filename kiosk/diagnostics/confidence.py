"""Error rates from small samples: the count, and how high the true rate could plausibly be.

The exact (Clopper-Pearson) one-sided upper bound: the rate u at which seeing `errors` or fewer
in `trials` has probability 1 - `level`. For 0 errors it is 1 - (1 - level)^(1/n), the "rule
of three" (~3/n at 95%). Solved by bisection on the binomial distribution (scipy is not a
dependency).
"""

from __future__ import annotations

import math


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def upper_bound(errors: int, trials: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of the error rate at confidence `level`."""
    if trials <= 0:
        return 1.0
    if not 0 <= errors <= trials:
        raise ValueError(f"errors must be within 0..{trials}, got {errors}")
    if errors == trials:
        return 1.0
    lo, hi = errors / trials, 1.0
    for _ in range(100):  # the CDF falls as p rises: find where it crosses 1 - level
        mid = (lo + hi) / 2
        if binomial_cdf(errors, trials, mid) > 1 - level:
            lo = mid
        else:
            hi = mid
    return hi


def rate_text(errors: int, trials: int, level: float = 0.95) -> str:
    """'2 of 40 (5.0%; 95% upper bound 15.0%)', or 'none measured' for no trials."""
    if trials <= 0:
        return "none measured"
    return (f"{errors} of {trials} ({100 * errors / trials:.1f}%; {100 * level:.0f}% upper bound "
            f"{100 * upper_bound(errors, trials, level):.1f}%)")
