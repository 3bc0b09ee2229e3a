"""What finite differences cost, measured: time per training step and calls of the black box.

Run from the project root:  .venv/bin/python benchmarks/finite_differences_cost.py

Prints median times (over several repeats, one thread), the number of black-box calls per
gradient, and ratios to autograd. Timings depend on the machine and its load, which is why they
live here and never on the page or in the tests.
"""

import statistics
import sys
import timeit
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snippets.finite_differences import (  # noqa: E402
    CountCalls, Curve, ForwardDifference, f, f_string, finite_differences, make_data)

REPEATS = 15


def median_seconds(functions, budget=0.02):
    """Median time of one call of each function, in seconds, over REPEATS interleaved rounds.

    Each round times every function once, in turn, so that a change in the machine's load
    affects all of them alike. ``number`` is chosen so that one timing takes about ``budget``.
    """
    numbers = {}
    for name, function in functions.items():
        once = timeit.Timer(function).timeit(number=1)
        numbers[name] = max(1, int(budget / max(once, 1e-7)))
    times = {name: [] for name in functions}
    for _ in range(REPEATS):
        for name, function in functions.items():
            times[name].append(timeit.Timer(function).timeit(number=numbers[name]) / numbers[name])
    return {name: statistics.median(values) for name, values in times.items()}


def training_step_costs():
    """One Adam step on a batch of 10, for each way of getting the gradient of the page's model."""
    x_train, y_train, _, _ = make_data(seed=0)
    x, y = x_train[:10], y_train[:10]
    routes = {
        "autograd through f": lambda bb: f,
        "ForwardDifference through f": lambda bb: lambda x, w: ForwardDifference.apply(bb, x, w),
        "ForwardDifference through f_string": lambda bb: lambda x, w: ForwardDifference.apply(bb, x, w),
        "wrapper, forward, through f_string": lambda bb: finite_differences(bb, "forward"),
        "wrapper, central, through f_string": lambda bb: finite_differences(bb, "central"),
    }
    black_boxes = {"autograd through f": f, "ForwardDifference through f": f}
    print("One training step (forward, MSE loss, backward, Adam step) on a batch of 10, n = 2 weights")
    print(f"{'route':38} {'median time':>12} {'x autograd':>11} {'black-box calls':>16}")
    steps, calls = {}, {}
    for name, make in routes.items():
        black_box = CountCalls(black_boxes.get(name, f_string))
        model = Curve(make(black_box))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)

        def step(model=model, optimizer=optimizer):
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()
        black_box.calls = 0
        step()
        calls[name] = black_box.calls if name != "autograd through f" else "-"
        steps[name] = step
    seconds = median_seconds(steps)
    baseline = seconds["autograd through f"]
    for name in routes:
        print(f"{name:38} {seconds[name] * 1e6:9.0f} µs {seconds[name] / baseline:10.1f}x "
              f"{calls[name]!s:>16}")


def polynomial(x, w):
    """sum_j w_j x^j for a weight vector, or for a (k, n) stack of them (then k rows out)."""
    powers = x[:, None] ** torch.arange(w.shape[-1], dtype=x.dtype)    # (N, n)
    return w @ powers.T


def scaling_with_weights():
    """One gradient (forward and backward pass) as the number of weights grows."""
    x = torch.linspace(-1, 1, 256, dtype=torch.float64)
    target = torch.zeros(256, dtype=torch.float64)
    print()
    print("One gradient (forward + backward) of a polynomial with n weights, batch of 256, float64")
    print(f"{'n':>5} {'route':24} {'median time':>12} {'x autograd':>11} {'black-box calls':>16}")
    for n in (2, 8, 32, 128):
        w0 = torch.linspace(0.5, -0.5, n, dtype=torch.float64)
        routes = {"autograd": None, "forward differences": ("forward", False),
                  "central differences": ("central", False), "forward, batched call": ("forward", True),
                  "central, batched call": ("central", True)}
        gradients, calls = {}, {}
        for name, options in routes.items():
            black_box = CountCalls(polynomial)
            function = black_box if options is None else finite_differences(black_box, *options)

            def gradient(function=function):
                w = w0.clone().requires_grad_()
                ((function(x, w) - target) ** 2).mean().backward()

            gradient()
            black_box.calls = 0
            gradient()
            calls[name], gradients[name] = black_box.calls, gradient
        seconds = median_seconds(gradients)
        for name in routes:
            print(f"{n:5} {name:24} {seconds[name] * 1e6:9.0f} µs "
                  f"{seconds[name] / seconds['autograd']:10.1f}x {calls[name]:16}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread, median of {REPEATS} repeats")
    print()
    training_step_costs()
    scaling_with_weights()
