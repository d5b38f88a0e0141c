"""Records scipy.stats.wilcoxon on the cases test/statistics.test.ts checks mceval's Wilcoxon test against, with the
versions that produced them:  python3 scripts/record-wilcoxon.py > fixtures/stats/wilcoxon-scipy.json

Every call is scipy's default (zero_method='wilcox', correction=False, alternative='two-sided', method='auto'); the
branch 'auto' took is recorded too, checked by calling scipy again with that method named explicitly.
"""
import json
import platform

import numpy as np
import scipy
from scipy import stats


def case(name, x, y=None):
    x = np.asarray(x, dtype=np.float64)
    y = None if y is None else np.asarray(y, dtype=np.float64)
    d = x if y is None else x - y
    result = stats.wilcoxon(x, y)
    nonzero = d[d != 0]
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    zeros = int(np.sum(d == 0))
    if len(d) > 50:
        branch = "asymptotic"
    elif not ties and zeros == 0:
        branch = "exact"
    elif len(d) <= 13:
        branch = "permutation"
    else:
        branch = "asymptotic"
    explicit = stats.wilcoxon(x, y, method=stats.PermutationMethod() if branch == "permutation" else branch)
    assert np.array_equal(explicit.pvalue, result.pvalue, equal_nan=True), (name, explicit, result)
    # JSON has no NaN: a p-value scipy cannot compute is recorded as the string "nan".
    number = lambda v: float(v) if np.isfinite(v) else "nan"
    out = {"name": name, "x": x.tolist(), "statistic": number(result.statistic), "pvalue": number(result.pvalue),
           "method": branch}
    if y is not None:
        out["y"] = y.tolist()
    return out


rng = np.random.RandomState(20261201)
grid_a = [0.5, 0.5625, 0.625, 0.5625, 0.6875, 0.5, 0.75, 0.5625, 0.625]
grid_b = [0.5625, 0.5625, 0.6875, 0.625, 0.6875, 0.5625, 0.8125, 0.625, 0.6875]
cases = [
    case("exact, n=8", rng.normal(0.3, 1, 8)),
    case("exact, n=20, all positive", rng.uniform(0.1, 1, 20)),
    case("exact, n=20", rng.normal(0.2, 1, 20)),
    case("exact, n=50 (largest exact n)", rng.normal(0.1, 1, 50)),
    case("exact, n=1", [0.25]),
    case("exact, paired x and y", rng.normal(0.7, 0.05, 12), rng.normal(0.68, 0.05, 12)),
    case("asymptotic, n=51", rng.normal(0.1, 1, 51)),
    case("asymptotic, n=200, far tail", rng.normal(1.0, 1, 200)),
    case("asymptotic, n=30 with ties", np.round(rng.normal(0.2, 1, 30), 1)),
    case("asymptotic, n=25 with zeros", np.concatenate([[0.0, 0.0, 0.0], rng.normal(-0.3, 1, 22)])),
    case("asymptotic, n=60 with ties and zeros", np.round(rng.normal(0.1, 1, 60))),
    case("permutation, n=10 with ties", [1, 2, 2, 3, -1, 4, 4, -5, 6, 2.0]),
    case("permutation, n=12 with zeros", np.concatenate([[0.0, 0.0], rng.normal(0.5, 1, 10)])),
    case("permutation, n=13 with ties and zeros", [0, 1, 1, -1, 2, 2, 3, -3, 4, 0, 5, 6, -6.0]),
    case("permutation, grid accuracies (paired)", grid_b, grid_a),
    case("permutation, all zeros", [0.0, 0.0, 0.0, 0.0]),
    case("asymptotic, all zeros, n=14", [0.0] * 14),
]
print(json.dumps({
    "provenance": {
        "tool": "scipy.stats.wilcoxon with its defaults (two-sided, zero_method='wilcox', correction=False, method='auto')",
        "scipy": scipy.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "command": "python3 scripts/record-wilcoxon.py > fixtures/stats/wilcoxon-scipy.json",
    },
    "cases": cases,
}, indent=1))
