"""Examples of the page "Errors and how to read them" (docs/error-atlas.md).

Each error is reproduced by one example that catches it and prints PyTorch's own
message, and fixed by the next, which prints evidence that the fix works. What
the examples return (the caught errors and warnings, the fixed gradients) is for
the tests in tests/test_error_atlas.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import warnings

import torch
from torch import nn

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


@example
def backward_twice():
    """Two losses share a part of the graph; the first backward frees it."""
    # --8<-- [start:backward_twice]
    x = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
    h = x.exp()       # shared by both losses; exp saves its result for backward
    loss_a = h.sum()
    loss_b = (h ** 2).sum()

    loss_a.backward()            # walks through exp, then frees what exp saved
    try:
        loss_b.backward()        # needs exp's saved result again
    except RuntimeError as error:
        failure = error
        print(f"{type(error).__name__}: {error}")
    # --8<-- [end:backward_twice]
    return {"failure": failure}


@example
def backward_twice_fixed():
    """Either keep the graph for the second pass, or do one pass for the sum."""
    # --8<-- [start:backward_twice_fixed]
    x = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)

    h = x.exp()
    loss_a, loss_b = h.sum(), (h ** 2).sum()
    # keep the saved values for one more pass
    loss_a.backward(retain_graph=True)
    loss_b.backward()                     # the last pass may free them
    retained = x.grad.clone()
    print("two passes, retain_graph=True:", retained)

    x.grad = None
    h = x.exp()                     # a fresh forward pass records a fresh graph
    loss_a, loss_b = h.sum(), (h ** 2).sum()
    (loss_a + loss_b).backward()    # one pass through the shared part
    print("one pass over the sum:        ", x.grad)

    exact = x.detach().exp() + 2 * (2 * x.detach()).exp()
    print("exact e^x + 2e^(2x):          ", exact)
    # --8<-- [end:backward_twice_fixed]
    return {"retained": retained, "summed": x.grad, "exact": exact}


@example
def carried_state():
    """A state carried from one training step to the next drags the old graph along."""
    # --8<-- [start:carried_state]
    w = torch.tensor(0.5, requires_grad=True)
    state = torch.tensor(1.0)
    for step, x in enumerate([1.0, 2.0, 3.0]):
        state = state * w + x            # hangs on to the previous step's graph
        loss = (state - 2.0) ** 2
        try:
            loss.backward()
            print(f"step {step}: w.grad = {w.grad.item():.4f}")
        except RuntimeError as error:
            failure, failed_step = error, step
            print(f"step {step}: {type(error).__name__}: {error}")
            break
    # --8<-- [end:carried_state]
    return {"failure": failure, "failed_step": failed_step}


@example
def carried_state_detached():
    """Detaching the carried state cuts each step's graph off from the previous ones."""
    # --8<-- [start:carried_state_detached]
    w = torch.tensor(0.5, requires_grad=True)
    state = torch.tensor(1.0)
    steps = []
    for step, x in enumerate([1.0, 2.0, 3.0]):
        previous = state.detach()      # the value goes on, its history does not
        state = previous * w + x
        loss = (state - 2.0) ** 2
        w.grad = None                      # what optimizer.zero_grad() does
        loss.backward()
        by_hand = 2 * (state.item() - 2.0) * previous.item()
        steps.append((w.grad.item(), by_hand))
        print(f"step {step}: w.grad = {w.grad.item():.4f},",
              f"2(state - 2)·previous = {by_hand:.4f}")
    # --8<-- [end:carried_state_detached]
    return {"steps": steps}


@example
def no_grad_fn():
    """backward() on a result that autograd never recorded, for two common reasons."""
    # --8<-- [start:no_grad_fn]
    x = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([2.0, 4.0, 6.0])
    failures = []

    w = torch.tensor(0.5)                      # forgot requires_grad=True
    loss = ((w * x - target) ** 2).mean()
    print("w.requires_grad:", w.requires_grad,
          "| loss.requires_grad:", loss.requires_grad,
          "| loss.grad_fn:", loss.grad_fn)
    try:
        loss.backward()
    except RuntimeError as error:
        failures.append(error)
        print(f"{type(error).__name__}: {error}")

    w = torch.tensor(0.5, requires_grad=True)
    with torch.no_grad():                  # e.g. copied from an evaluation loop
        loss = ((w * x - target) ** 2).mean()
    print("w.requires_grad:", w.requires_grad,
          "| loss.requires_grad:", loss.requires_grad,
          "| loss.grad_fn:", loss.grad_fn)
    try:
        loss.backward()
    except RuntimeError as error:
        failures.append(error)
        print(f"{type(error).__name__}: {error}")
    # --8<-- [end:no_grad_fn]
    return {"failures": failures, "w": w, "loss": loss}


@example
def no_grad_fn_fixed():
    """Ask for gradients on the weight and compute the loss where autograd records."""
    # --8<-- [start:no_grad_fn_fixed]
    x = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([2.0, 4.0, 6.0])

    w = torch.tensor(0.5, requires_grad=True)
    loss = ((w * x - target) ** 2).mean()      # outside any no_grad block
    print("loss.requires_grad:", loss.requires_grad,
          "| grad_fn:", type(loss.grad_fn).__name__)
    loss.backward()

    by_hand = (2 * (w.detach() * x - target) * x).mean()
    print("w.grad:", w.grad, "| mean of 2(wx - t)x:", by_hand)
    # --8<-- [end:no_grad_fn_fixed]
    return {"grad": w.grad, "by_hand": by_hand, "requires_grad": loss.requires_grad}


@example
def leaf_in_place():
    """A hand-written update step changes a leaf in place while autograd is recording."""
    # --8<-- [start:leaf_in_place]
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    loss = (w ** 2 * x).sum()
    loss.backward()

    try:
        w -= 0.1 * w.grad             # a gradient-descent step, written by hand
    except RuntimeError as error:
        failure = error
        print(f"{type(error).__name__}: {error}")
    print("w is unchanged:", w)
    # --8<-- [end:leaf_in_place]
    return {"failure": failure, "w": w}


@example
def leaf_in_place_fixed():
    """The same update under torch.no_grad(), then a second gradient to show w still works."""
    # --8<-- [start:leaf_in_place_fixed]
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    (w ** 2 * x).sum().backward()
    first_grad = w.grad.clone()
    print("w.grad:", first_grad, "| 2wx:", 2 * w.detach() * x)

    with torch.no_grad():           # the update itself is not part of the model
        w -= 0.1 * w.grad
    w.grad = None
    print("after the step, w:", w, "| leaf:", w.is_leaf)

    # the next step records and differentiates as before
    (w ** 2 * x).sum().backward()
    print("w.grad:", w.grad, "| 2wx:", 2 * w.detach() * x)
    # --8<-- [end:leaf_in_place_fixed]
    return {"first_grad": first_grad, "w": w, "x": x}


@example
def inplace_modified():
    """Index assignment changes, in place, a value that sigmoid saved for its backward."""
    # --8<-- [start:inplace_modified]
    z = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    p = torch.sigmoid(z)             # sigmoid's backward needs its output p
    print("version of p after sigmoid:", p._version)
    p[0] = 0.0                       # index assignment is an in-place operation
    print("version of p after p[0] = 0:", p._version)
    try:
        p.sum().backward()
    except RuntimeError as error:
        failure = error
        print(f"{type(error).__name__}: {error}")
    # --8<-- [end:inplace_modified]
    return {"failure": failure}


@example
def inplace_anomaly():
    """Anomaly mode names the backward node that found its saved value changed."""
    # --8<-- [start:inplace_anomaly]
    z = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with (
        torch.autograd.set_detect_anomaly(True),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        p = torch.sigmoid(z)
        p[0] = 0.0
        try:
            p.sum().backward()
        except RuntimeError as error:
            failure = error
    # The warning goes on with the forward call's traceback: file, line, code.
    found = [
        str(w.message).split(".")[0]
        for w in caught
        if "Error detected" in str(w.message)
    ]
    print("anomaly mode:", found[0])
    print(f"{type(failure).__name__}: {failure}")
    # --8<-- [end:inplace_anomaly]
    return {"failure": failure, "found": found}


@example
def inplace_modified_fixed():
    """Out-of-place masking, or a clone before the in-place change, keeps sigmoid's output intact."""
    # --8<-- [start:inplace_modified_fixed]
    z = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    keep = torch.tensor([0.0, 1.0, 1.0])

    p = torch.sigmoid(z)
    (p * keep).sum().backward()        # out of place: a new tensor, p untouched
    masked = z.grad.clone()
    print("z.grad, p * keep:        ", masked)

    z.grad = None
    p = torch.sigmoid(z)
    q = p.clone()                           # change a copy, not the saved value
    q[0] = 0.0
    q.sum().backward()
    print("z.grad, clone then q[0]=0:", z.grad)

    s = torch.sigmoid(z.detach())
    exact = s * (1 - s) * keep
    print("σ(z)(1 - σ(z)) · keep:    ", exact)
    # --8<-- [end:inplace_modified_fixed]
    return {"masked": masked, "cloned": z.grad, "exact": exact}


@example
def non_leaf_grad():
    """Reading .grad of an intermediate result warns and gives None."""
    # --8<-- [start:non_leaf_grad]
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = 3 * x                                 # made by an operation: not a leaf
    loss = (h ** 2).sum()
    loss.backward()
    print("x.is_leaf:", x.is_leaf, "| h.is_leaf:", h.is_leaf)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h_grad = h.grad
    print("h.grad:", h_grad)
    for warning in caught:
        # torch ends the message with where in its C++ source it was
        # raised; drop that
        message = str(warning.message).split(" (Triggered internally")[0]
        print(f"{warning.category.__name__}: {message}")
    # --8<-- [end:non_leaf_grad]
    return {"warnings": caught, "h_grad": h_grad, "x_grad": x.grad}


@example
def retain_grad_fixed():
    """retain_grad() asks backward to keep the gradient of an intermediate result."""
    # --8<-- [start:retain_grad_fixed]
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = 3 * x
    h.retain_grad()                             # before backward
    loss = (h ** 2).sum()
    loss.backward()
    print("h.grad:", h.grad, "| 2h:", 2 * h.detach())
    print("x.grad:", x.grad, "| 3·2h:", 3 * 2 * h.detach())
    # --8<-- [end:retain_grad_fixed]
    return {"h_grad": h.grad, "x_grad": x.grad, "h": h.detach()}


@example
def non_leaf_weight():
    """A weight scaled after requires_grad=True is an intermediate result, not a leaf."""
    # --8<-- [start:non_leaf_weight]
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True) * 0.01     # the scaling is recorded
    print("scaled after requires_grad=True, leaf:", w.is_leaf)

    # scale first, then ask for gradients
    w = (torch.randn(3) * 0.01).requires_grad_()
    print("scaled before requires_grad_(), leaf: ", w.is_leaf)
    x = torch.tensor([1.0, 2.0, 3.0])
    (w * x).sum().backward()
    print("w.grad:", w.grad)
    # --8<-- [end:non_leaf_weight]
    return {"w": w, "x": x}


@example
def non_scalar_backward():
    """Per-sample losses (reduction='none') are a vector: backward() needs a weighting."""
    # --8<-- [start:non_scalar_backward]
    w = torch.tensor(0.5, requires_grad=True)
    x = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([2.0, 4.0, 6.0])
    # one per sample
    losses = nn.functional.mse_loss(w * x, target, reduction="none")
    print("losses:", losses)
    try:
        losses.backward()
    except RuntimeError as error:
        failure = error
        print(f"{type(error).__name__}: {error}")
    # --8<-- [end:non_scalar_backward]
    return {"failure": failure}


@example
def non_scalar_backward_fixed():
    """Reduce to one number, or say how to weigh each element with ``gradient``."""
    # --8<-- [start:non_scalar_backward_fixed]
    w = torch.tensor(0.5, requires_grad=True)
    x = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([2.0, 4.0, 6.0])

    losses = nn.functional.mse_loss(w * x, target, reduction="none")
    losses.mean().backward()               # one number: the usual training loss
    mean_grad = w.grad.clone()
    print("w.grad from losses.mean():     ", mean_grad)
    print("mean of 2(wx - t)x:            ",
          (2 * (w.detach() * x - target) * x).mean())

    w.grad = None
    losses = nn.functional.mse_loss(w * x, target, reduction="none")
    # weight 1 each: the gradient of the sum
    losses.backward(gradient=torch.ones_like(losses))
    print("w.grad with gradient=ones (sum):", w.grad)
    # --8<-- [end:non_scalar_backward_fixed]
    return {"mean_grad": mean_grad, "sum_grad": w.grad, "w": w.detach(), "x": x, "target": target}
