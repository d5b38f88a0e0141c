"""numpy's matmul rate on the shapes mceval's benchmark ran, for bench/train-step.

Reads JSON on stdin: {"plain": 1024, "products": [[m, k, n, count], ...]} (count = how many times the step runs that
product) and prints JSON: numpy's plain size² rate and its rate over the step's own products, in GFLOP/s, with the
numpy version and BLAS it used. Each timing is the best of a few repeats, as numpy users measure it.
"""
import json
import sys
import time

import numpy as np


def best_seconds(run, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main():
    request = json.load(sys.stdin)
    rng = np.random.default_rng(7)
    size = request["plain"]
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    plain = 2 * size**3 / best_seconds(lambda: a @ b) / 1e9
    operands = [
        (rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32), count)
        for m, k, n, count in request["products"]
    ]
    flops = sum(2 * x.shape[0] * x.shape[1] * y.shape[1] * count for x, y, count in operands)

    def step_products():
        for x, y, count in operands:
            for _ in range(count):
                x @ y

    step = flops / best_seconds(step_products, repeats=3) / 1e9 if operands else None
    config = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}).get("name", "unknown")
    print(json.dumps({"numpy": np.__version__, "blas": blas, "plainGflops": plain, "stepProductsGflops": step}))


main()
