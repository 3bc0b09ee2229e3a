"""Examples of the page "Cutting the graph with finite differences" (docs/finite-differences.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_finite_differences.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import ast
import math
import operator

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


# --8<-- [start:model_functions]
def f(x, w):
    """The model: 2·x·w0 + x²·w1, in tensor operations autograd records.

    Examples:
        >>> f(torch.tensor([1., 2.]), torch.tensor([1., 1.])).tolist()
        [3.0, 8.0]
    """
    return 2 * x * w[0] + x**2 * w[1]


def f_string(x, w):
    """The same model, by writing a formula for each x and evaluating it.

    Examples:
        >>> f_string(torch.tensor([1., 2.]), torch.tensor([1., 1.])).tolist()
        [3.0, 8.0]
    """
    w0, w1 = w.tolist()      # plain Python numbers: the tensors are left behind
    values = []
    for xi in x.tolist():
        # parentheses matter: in Python "-0.5**2" is -0.25
        formula = f"2 * ({xi!r}) * ({w0!r}) + ({xi!r})**2 * ({w1!r})"
        # our own text, numbers only; see the last section
        values.append(eval(formula))
    return torch.tensor(values, dtype=w.dtype)
# --8<-- [end:model_functions]


@example
def graph_or_no_graph():
    """The tensor version keeps its graph; the string version has none to walk back."""
    # --8<-- [start:graph_or_no_graph]
    x = torch.tensor([1.])
    w = torch.tensor([1., 1.], requires_grad=True)

    y = f(x, w)
    print("f:        ", y, "grad_fn:", type(y.grad_fn).__name__)
    y.sum().backward()
    print("w.grad =", w.grad)

    y_string = f_string(x, w)
    print("f_string: ", y_string, "grad_fn:", y_string.grad_fn)
    try:
        y_string.sum().backward()
    except RuntimeError as error:
        message = f"RuntimeError: {error}"
        print(message)
    # --8<-- [end:graph_or_no_graph]
    return {"w_grad": w.grad, "y": y.detach(), "y_string": y_string, "message": message}


# --8<-- [start:data]
TRUE_W = torch.tensor([1.2, -3.4])


def make_data(seed=0):
    """200 training, 10 validation points on f(x, TRUE_W), x uniform in [0, 1).

    Examples:
        >>> x_train, y_train, x_valid, y_valid = make_data(seed=0)
        >>> x_train.shape, y_valid.shape, x_train.dtype
        (torch.Size([200]), torch.Size([10]), torch.float32)
    """
    generator = torch.Generator().manual_seed(seed)
    x_train = torch.rand(200, generator=generator)
    x_valid = torch.rand(10, generator=generator)
    return x_train, f(x_train, TRUE_W), x_valid, f(x_valid, TRUE_W)
# --8<-- [end:data]


@example
def training_data():
    """The data both models learn from."""
    # --8<-- [start:training_data]
    x_train, y_train, x_valid, y_valid = make_data(seed=0)
    print("training:  ", tuple(x_train.shape), x_train.dtype, " validation:",
          tuple(x_valid.shape))
    print("first x:", x_train[:4])
    print("first y:", y_train[:4])
    print("same seed, same data:", torch.equal(make_data(seed=0)[0], x_train))
    # --8<-- [end:training_data]
    return {"data": (x_train, y_train, x_valid, y_valid)}


# --8<-- [start:training]
class Curve(nn.Module):
    """y = function(x, w) with two trainable weights w, starting from zero."""

    def __init__(self, function):
        super().__init__()
        self.function = function
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return self.function(x, self.w)


def fit(model, x, y, epochs=20, seed=0):
    """Adam (lr 0.1) on the MSE in batches of 10; returns mean loss per epoch.

    Examples:
        >>> x_train, y_train, _, _ = make_data()
        >>> len(fit(Curve(f), x_train, y_train, epochs=2))
        2
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=10, shuffle=True,
        # the same order for every model
        generator=torch.Generator().manual_seed(seed))
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for x_batch, y_batch in batches:
            loss = nn.functional.mse_loss(model(x_batch), y_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(batches))
    return losses
# --8<-- [end:training]


@example
def fit_with_autograd():
    """The model whose forward is f learns the true weights."""
    # --8<-- [start:fit_with_autograd]
    x_train, y_train, x_valid, y_valid = make_data(seed=0)
    model = Curve(f)
    losses = fit(model, x_train, y_train)
    print("true weights:  ", TRUE_W.tolist())
    print("fitted weights:", model.w.tolist())

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.semilogy(range(1, 21), losses, marker="o")
    ax.set(xlabel="epoch", ylabel="mean training loss (MSE)",
           xticks=[1, 5, 10, 15, 20], title="Fitting f with autograd")
    plt.show()
    # --8<-- [end:fit_with_autograd]
    return {"w": model.w.detach().clone(), "losses": losses}


# --8<-- [start:forward_difference]
class ForwardDifference(torch.autograd.Function):
    """A black box f(x, w), with the gradient for w by forward differences."""

    @staticmethod
    def forward(f, x, w):
        return f(x, w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, x, w = inputs
        # not a tensor: kept as a plain attribute
        ctx.f = f
        # the output is f(x, w), reused by every difference
        ctx.save_for_backward(x, w, output)

    @staticmethod
    @once_differentiable    # the black box records no graph: see the page
    def backward(ctx, grad_output):
        x, w, y = ctx.saved_tensors
        step = 0.001                           # Δw
        grad_w = torch.zeros_like(w)
        for i in range(len(w)):
            w_step = w.clone()
            w_step[i] += step
            # ≈ ∂f/∂w_i at every x of the batch
            slope = (ctx.f(x, w_step) - y) / step
            # chain rule, summed over the batch
            grad_w[i] = (grad_output * slope).sum()
        # no gradient for f and x
        return None, None, grad_w
# --8<-- [end:forward_difference]


@example
def difference_gradient():
    """The string version gets a gradient again, close to autograd's [2, 1]."""
    # --8<-- [start:difference_gradient]
    grads = {}
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([1.], dtype=dtype)
        w = torch.tensor([1., 1.], dtype=dtype, requires_grad=True)
        y = ForwardDifference.apply(f_string, x, w)
        y.sum().backward()
        grads[dtype] = w.grad
        print(f"{str(dtype):14} grad_fn: {type(y.grad_fn).__name__}, "
              f"w.grad = {w.grad.tolist()}")
    # --8<-- [end:difference_gradient]
    return {"w_grad_float64": grads[torch.float64], "grads": grads,
            "grad_fn": type(y.grad_fn).__name__}


# --8<-- [start:count_calls]
class CountCalls:
    """A function that counts how often it is called."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)
# --8<-- [end:count_calls]


@example(atol=0, rtol=1e-3, floor=1e-6)
def fit_both():
    """The same fit through the string version and finite differences lands in the same place.

    Forward differences in float32 give gradients with a rounding error of about
    eps / step = 1e-4 (relative), and its digits depend on how the CPU's kernels
    sum a batch; the training path inherits them. So the loss curves are
    compared to 1e-3 (relative) and only above 1e-6, below which they differ
    from machine to machine; the prediction gap is printed as a bound.
    """
    # --8<-- [start:fit_both]
    x_train, y_train, x_valid, y_valid = make_data(seed=0)

    model = Curve(f)                                   # autograd through f
    losses = fit(model, x_train, y_train)

    black_box = CountCalls(f_string)       # finite differences through the text
    model_fd = Curve(lambda x, w: ForwardDifference.apply(black_box, x, w))
    losses_fd = fit(model_fd, x_train, y_train)
    training_calls = black_box.calls

    # six decimals: float32 keeps about seven digits, the last one is noise
    print("autograd:           w =", [round(v, 6) for v in model.w.tolist()])
    print("finite differences: w =", [round(v, 6) for v in model_fd.w.tolist()])
    print(f"f_string calls: {training_calls} for {20 * 20} steps, "
          f"{training_calls // 400} per step")
    with torch.no_grad():
        gap = (model(x_valid) - model_fd(x_valid)).abs()
    eps = torch.finfo(torch.float32).eps     # float32 resolution near 1
    print(f"validation predictions differ by less than 10 × {eps:.1e}:",
          gap.max().item() < 10 * eps)

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.semilogy(range(1, 21), losses, marker="o", label="f, autograd")
    ax.semilogy(range(1, 21), losses_fd, marker="x", linestyle="--",
                label="f_string, forward differences")
    ax.set(xlabel="epoch", ylabel="mean training loss (MSE)",
           xticks=[1, 5, 10, 15, 20], title="Two routes to the same fit")
    ax.legend()
    plt.show()
    # --8<-- [end:fit_both]
    return {"w": model.w.detach().clone(), "w_fd": model_fd.w.detach().clone(),
            "gap": gap, "calls": training_calls, "losses": losses, "losses_fd": losses_fd}


@example(atol=0)
def step_size_study():
    """Error of forward and central differences against the exact derivative as the step shrinks.

    Every number in it comes from single operations rounded the same way by any
    CPU (steps exact, points one division each, a maximum instead of a sum), so
    the rounding noise it shows is the same noise on every machine.
    """
    # --8<-- [start:step_size_study]
    def g(w):           # a curved test function: arithmetic only, so its
        return 1 / w    # rounding is the same on every machine

    # powers of two from 1/8 down to 1e-12, and w = 1.00, 1.01, ... 2.00, one
    # division each: every machine differences the same numbers
    steps = torch.tensor([2.0 ** -k for k in range(3, 41)],
                         dtype=torch.float64)[:, None]
    points = torch.arange(100, 201, dtype=torch.float64) / 100   # w in [1, 2]
    exact = -1 / (points * points)                               # g'(w)

    best_steps, errors = {}, {}
    fig, ax = plt.subplots(figsize=(6, 4))
    print("dtype    scheme   best step  its error  |  theory: step  error")
    for dtype, style in ((torch.float32, "-"), (torch.float64, "--")):
        eps = torch.finfo(dtype).eps
        w, h = points.to(dtype), steps.to(dtype)
        estimates = {
            "forward": (g(w + h) - g(w)) / h,
            "central": (g(w + h) - g(w - h)) / (2 * h),
        }
        theory = {"forward": (eps ** (1 / 2), eps ** (1 / 2)),     # step, error
                  "central": (eps ** (1 / 3), eps ** (2 / 3))}
        for scheme, estimate in estimates.items():
            # the largest error over w (unlike a mean, it needs no rounded sum)
            error = (estimate.double() - exact).abs().amax(dim=1)
            best = error.argmin()
            best_steps[str(dtype)[6:], scheme] = steps[best].item()
            errors[str(dtype)[6:], scheme] = error
            # order of the truncation error: slope of log(error), largest steps
            slope = np.polyfit(steps[:5, 0].log10(), error[:5].log10(), 1)[0]
            print(f"{str(dtype)[6:]:8} {scheme:8} {steps[best].item():.1e}    "
                  f"{error[best].item():.1e}    |  {theory[scheme][0]:.1e}"
                  f"        {theory[scheme][1]:.1e}"
                  f"   (slope at large steps {slope:.2f})")
            ax.loglog(steps[:, 0], error, style,
                      color="C0" if scheme == "forward" else "C1",
                      label=f"{scheme}, {str(dtype)[6:]}")
    ax.set(xlabel="step h", ylabel="largest error of the derivative",
           title="Finite-difference error against the step")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)  # below
    plt.show()
    # --8<-- [end:step_size_study]
    return {"best_steps": best_steps, "errors": errors, "steps": steps[:, 0]}


# --8<-- [start:wrapper_steps]
def default_step(t, scheme="central"):
    """A step for each element of t: max(1, |t|) times sqrt(eps) or cbrt(eps).

    sqrt(eps) for the forward scheme, cbrt(eps) for the central one.

    Examples:
        >>> t = torch.tensor([0.5, -100.], dtype=torch.float64)
        >>> default_step(t, "forward").tolist()
        [1.4901161193847656e-08, 1.4901161193847656e-06]
    """
    eps = torch.finfo(t.dtype).eps
    scale = eps ** (1 / 2) if scheme == "forward" else eps ** (1 / 3)
    return scale * t.abs().clamp(min=1)


def perturbed(t, scheme="central"):
    """The copies of t to evaluate, one per row, and the exact width of each.

    forward: n rows, t + h_i·e_i;
    central: 2n rows, t + h_i·e_i then t - h_i·e_i.

    Examples:
        >>> rows, width = perturbed(torch.tensor([1., 2.]), "forward")
        >>> rows.shape, width.shape
        (torch.Size([2, 2]), torch.Size([2]))
    """
    flat = t.detach().reshape(-1)
    shift = torch.diag(default_step(flat, scheme))
    up = flat + shift                                # row i: element i moved up
    if scheme == "forward":
        rows, width = up, up.diagonal() - flat
    elif scheme == "central":
        down = flat - shift
        rows, width = torch.cat([up, down]), up.diagonal() - down.diagonal()
    else:
        raise ValueError(
            f"scheme must be 'forward' or 'central', not {scheme!r}"
        )
    # the width is measured on the rows evaluated, not the nominal step:
    # t + h rounds, and dividing by the rounded difference removes that error
    return rows.reshape(-1, *t.shape), width
# --8<-- [end:wrapper_steps]


# --8<-- [start:wrapper]
def weight_gradient(f, x, w, y, grad_y, scheme="central", batched=False):
    """dL/dw = sum over outputs of grad_y · ∂y/∂w; each ∂y/∂w_i one difference.

    Examples:
        >>> x = torch.tensor([1., 2.], dtype=torch.float64)
        >>> w = torch.tensor([3.], dtype=torch.float64)
        >>> square = lambda x, w: w * x**2
        >>> y = square(x, w)
        >>> grad = weight_gradient(square, x, w, y, torch.ones_like(y))
        >>> torch.allclose(grad, (x**2).sum())      # d/dw of sum(w·x²)
        True
    """
    rows, width = perturbed(w, scheme)
    if batched:
        # one call, every row at once
        outputs = f(x, rows)
    else:
        outputs = torch.stack([f(x, row) for row in rows])  # one call per row
    n = w.numel()
    differences = (
        outputs - y if scheme == "forward" else outputs[:n] - outputs[n:]
    )
    slopes = differences.reshape(n, -1) / width[:, None]    # row i ≈ ∂y/∂w_i
    return (slopes @ grad_y.reshape(-1)).reshape(w.shape)


def input_gradient(f, x, w, y, grad_y, scheme="central"):
    """dL/dx when sample k of y depends only on sample k of x (batch on dim 0).

    Every sample moves at once, so each feature of a sample costs one call
    (forward) or two (central), whatever the batch size.

    Examples:
        >>> x = torch.tensor([1., 2.], dtype=torch.float64)
        >>> w = torch.tensor([3.], dtype=torch.float64)
        >>> square = lambda x, w: w * x**2
        >>> y = square(x, w)
        >>> grad = input_gradient(square, x, w, y, torch.ones_like(y))
        >>> torch.allclose(grad, 2 * w * x)    # d/dx of w·x², sample by sample
        True
    """
    samples = x.detach().reshape(len(x), -1)                # one row per sample
    grad = torch.zeros_like(samples)
    for j in range(samples.shape[1]):
        step = default_step(samples[:, j], scheme)
        up, down = samples.clone(), samples.clone()
        up[:, j] += step
        if scheme == "central":
            down[:, j] -= step
        width = up[:, j] - down[:, j]
        high = f(up.reshape(x.shape), w)
        low = y if scheme == "forward" else f(down.reshape(x.shape), w)
        # sample k's own slope
        slopes = (high - low).reshape(len(x), -1) / width[:, None]
        grad[:, j] = (slopes * grad_y.reshape(len(x), -1)).sum(dim=1)
    return grad.reshape(x.shape)


class FiniteDifferences(torch.autograd.Function):
    """y = f(x, w) for a black box f, differentiated by finite differences."""

    # torch.func.vmap runs forward, setup_context and backward batched
    generate_vmap_rule = True

    @staticmethod
    def forward(f, x, w, scheme="central", batched=False):
        return f(x, w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, x, w, scheme, batched = inputs
        ctx.f, ctx.scheme, ctx.batched = f, scheme, batched
        ctx.save_for_backward(x, w, output)

    @staticmethod
    @once_differentiable    # differences of detached copies: no graph to x, w
    def backward(ctx, grad_y):
        x, w, y = ctx.saved_tensors
        grad_x = grad_w = None
        # which inputs required grad when forward ran, not what was asked now
        if ctx.needs_input_grad[1]:
            grad_x = input_gradient(ctx.f, x, w, y, grad_y, ctx.scheme)
        if ctx.needs_input_grad[2]:
            grad_w = weight_gradient(
                ctx.f, x, w, y, grad_y, ctx.scheme, ctx.batched
            )
        return None, grad_x, grad_w, None, None


def finite_differences(f, scheme="central", batched=False):
    """f made differentiable: a function of (x, w) whose backward differences f.

    batched=True promises that f also takes a (k, n) stack of weight vectors and
    returns the k outputs stacked, so all perturbed weights cost one call.

    Examples:
        >>> g = finite_differences(lambda x, w: (x * w).sum(-1))
        >>> w = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True)
        >>> g(torch.tensor([3., 4.], dtype=torch.float64), w).backward()
        >>> torch.allclose(w.grad, torch.tensor([3., 4.], dtype=torch.float64))
        True
    """
    def differentiable(x, w):
        return FiniteDifferences.apply(f, x, w, scheme, batched)
    return differentiable
# --8<-- [end:wrapper]


# --8<-- [start:lorentzian]
def lorentzian(x, w):
    """height / (1 + ((x - centre) / width)²), w = (height, centre, width).

    w may also be a stack of such weight vectors.

    Examples:
        >>> x, w = torch.tensor([0., 1.]), torch.tensor([2., 0., 1.])
        >>> lorentzian(x, w).tolist()
        [2.0, 1.0]
    """
    # (k, 1) for a stack
    height, centre, width = (p[..., None] for p in w.unbind(-1))
    z = (x - centre) / width
    return height / (1 + z * z)
# --8<-- [end:lorentzian]


@example(atol=0)
def wrapper_call_counts():
    """How many calls of the black box one forward and one backward pass cost."""
    # --8<-- [start:wrapper_call_counts]
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)       # n = 3 weights
    counts = {}
    print("scheme   batched  x needs grad | forward pass  backward")
    for scheme in ("forward", "central"):
        for batched in (False, True):
            for x_grad in (False, True):
                black_box = CountCalls(lorentzian)
                x_in = x.clone().requires_grad_(x_grad)
                w_in = w.clone().requires_grad_(True)
                y = finite_differences(black_box, scheme, batched)(x_in, w_in)
                in_forward = black_box.calls
                y.sum().backward()
                in_backward = black_box.calls - in_forward
                counts[scheme, batched, x_grad] = (in_forward, in_backward)
                print(f"{scheme:8} {str(batched):8} {str(x_grad):12} | "
                      f"{in_forward:12}  {in_backward:8}")
    # --8<-- [end:wrapper_call_counts]
    return {"counts": counts}


@example(atol=0)
def wrapper_needs_input_grad():
    """Backward pays for what required grad when forward ran, not for what it is asked."""
    # --8<-- [start:wrapper_needs_input_grad]
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)         # n = 3
    counts = {}
    print("x needs grad  asked for        | needs_input_grad (x, w)  "
          "backward calls")
    for x_grad in (False, True):
        for asked in ("loss.backward()", "grad(loss, w)"):
            black_box = CountCalls(lorentzian)
            x_in = x.clone().requires_grad_(x_grad)
            w_in = w.clone().requires_grad_(True)
            y = finite_differences(black_box, "forward")(x_in, w_in)
            loss = y.sum()
            before = black_box.calls
            if asked == "loss.backward()":
                loss.backward()
            else:
                torch.autograd.grad(loss, w_in)          # only w asked for
            # the node autograd recorded is the ctx that backward sees
            needs = y.grad_fn.needs_input_grad[1:3]      # (x, w)
            counts[x_grad, asked] = (needs, black_box.calls - before)
            print(f"{str(x_grad):13} {asked:16} | {str(needs):24} "
                  f"{black_box.calls - before}")
    # --8<-- [end:wrapper_needs_input_grad]
    return {"counts": counts}


@example(atol=0)
def wrapper_against_autograd():
    """The wrapper's gradients for x and w against autograd, on a function autograd can follow.

    The errors themselves are rounding noise whose digits change with the CPU's
    kernels, so the table prints the order they should have and whether both
    errors fall within a factor 10 of it.
    """
    # --8<-- [start:wrapper_against_autograd]
    def relative_error(estimate, exact):
        return ((estimate - exact).norm() / exact.norm()).item()

    errors = {}
    print("dtype    scheme   | expected order "
          "| dL/dw, dL/dx errors within 10x of it")
    for dtype in (torch.float32, torch.float64):
        x0 = torch.linspace(-2, 2, 50, dtype=dtype)
        w0 = torch.tensor([1.5, 0.3, 0.8], dtype=dtype)
        target = torch.ones(50, dtype=dtype)

        x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        ((lorentzian(x, w) - target) ** 2).mean().backward()   # exact: autograd
        exact_w, exact_x = w.grad, x.grad

        eps = torch.finfo(dtype).eps
        orders = {"forward": eps ** (1 / 2), "central": eps ** (2 / 3)}
        for scheme, order in orders.items():
            x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
            y = finite_differences(lorentzian, scheme, batched=True)(x, w)
            ((y - target) ** 2).mean().backward()
            found = (relative_error(w.grad, exact_w),
                     relative_error(x.grad, exact_x))
            errors[str(dtype)[6:], scheme] = found
            within = all(order / 10 < error < order * 10 for error in found)
            print(f"{str(dtype)[6:]:8} {scheme:8} | {order:.1e}        "
                  f"| {within}")
    # --8<-- [end:wrapper_against_autograd]
    return {"errors": errors}


# --8<-- [start:complex_step]
def lorentzian_numpy(x, w):
    """The same curve in NumPy, which autograd cannot follow, as compiled code.

    Examples:
        >>> x, w = torch.tensor([0., 1.]), torch.tensor([2., 0., 1.])
        >>> lorentzian_numpy(x, w).tolist()
        [2.0, 1.0]
    """
    x, w = x.detach().numpy(), w.detach().numpy()
    height, centre, width = (p[..., None] for p in np.moveaxis(w, -1, 0))
    z = (x - centre) / width
    return torch.from_numpy(height / (1 + z * z))


def complex_step_jacobian(f, x, w, h=1e-20):
    """∂f/∂w_i = Im f(x, w + i·h·e_i) / h, a row per w_i; f must take complex w.

    Examples:
        >>> x = torch.tensor([2.], dtype=torch.float64)
        >>> w = torch.tensor([1.], dtype=torch.float64)
        >>> complex_step_jacobian(lambda x, w: w**3 * x, x, w).tolist()
        [[6.0]]
    """
    rows = w.detach().to(torch.complex128) + 1j * h * torch.eye(
        w.numel(), dtype=torch.float64
    )
    return torch.stack([f(x, row).imag / h for row in rows])
# --8<-- [end:complex_step]


@example(atol=0)
def wrapper_complex_step():
    """Checking the wrapper on a black box autograd cannot see, against the complex step.

    It prints six digits of each gradient and a bound on each error: the digits
    beyond those are rounding noise that changes with the CPU's kernels.
    """
    # --8<-- [start:wrapper_complex_step]
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)
    target = torch.ones(50, dtype=torch.float64)

    y = lorentzian_numpy(x, w)
    grad_y = 2 * (y - target) / len(y)          # d mean((y - target)²) / dy
    reference = complex_step_jacobian(lorentzian_numpy, x, w) @ grad_y

    w_auto = w.clone().requires_grad_()         # the torch twin, for comparison
    ((lorentzian(x, w_auto) - target) ** 2).mean().backward()
    agree = torch.allclose(reference, w_auto.grad, rtol=1e-14, atol=0)
    print("complex step equals autograd on the torch twin to 1e-14:", agree)

    results, grads = {}, {}
    eps = torch.finfo(torch.float64).eps
    orders = {"forward": eps ** (1 / 2), "central": eps ** (2 / 3)}
    for scheme, order in orders.items():
        w_fd = w.clone().requires_grad_()
        black_box = finite_differences(lorentzian_numpy, scheme, batched=True)
        ((black_box(x, w_fd) - target) ** 2).mean().backward()
        error = ((w_fd.grad - reference).norm() / reference.norm()).item()
        results[scheme], grads[scheme] = error, w_fd.grad
        print(f"{scheme}: dL/dw = {[float(f'{g:.6g}') for g in w_fd.grad]}")
        print(f"         relative error against the complex step within"
              f" a factor 10 of {order:.1e}: {order / 10 < error < order * 10}")
    # --8<-- [end:wrapper_complex_step]
    return {"agree": agree, "errors": results, "reference": reference, "grads": grads}


@example(atol=0)
def wrapper_under_torch_func():
    """torch.func.grad and vmap run the wrapper when the black box is made of torch operations.

    Prints bounds, not digits: the differences are rounding noise.
    """
    # --8<-- [start:wrapper_under_torch_func]
    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)
    target = torch.ones(50, dtype=torch.float64)
    batches = torch.stack([x, x + 0.5, 2 * x])       # three batches of 50

    def loss_through(black_box):
        def loss(w, x):
            y = finite_differences(black_box, "central", batched=True)(x, w)
            return ((y - target) ** 2).mean()
        return loss

    loss = loss_through(lorentzian)
    w_in = w.clone().requires_grad_()
    loss(w_in, x).backward()
    same = torch.equal(torch.func.grad(loss)(w, x), w_in.grad)
    print("torch.func.grad equals loss.backward():", same)

    # one gradient per batch: vmap over the batches, w shared
    per_batch = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(
        w, batches)
    exact = torch.stack([                            # autograd, batch by batch
        torch.func.grad(lambda w: ((lorentzian(b, w) - target) ** 2).mean())(w)
        for b in batches])
    worst = ((per_batch - exact).norm(dim=1) / exact.norm(dim=1)).max().item()
    print(f"vmap(grad): {tuple(per_batch.shape)}, relative error below 1e-8:",
          worst < 1e-8)

    try:
        torch.func.grad(loss_through(lorentzian_numpy))(w, x)
    except RuntimeError as error:
        message = f"RuntimeError: {error}"
        print("NumPy black box, torch.func.grad:", message)
    # --8<-- [end:wrapper_under_torch_func]
    return {"same": same, "per_batch": per_batch, "exact": exact,
            "error": worst, "numpy_message": message}


@example
def eval_is_not_a_sandbox():
    """Harmless demonstrations of what a formula given to eval can reach."""
    # --8<-- [start:eval_is_not_a_sandbox]
    # anything else in the caller's scope
    secret = "hunter2"
    x = 0.5
    for text in ["2 * x + 1",                  # the formula we hoped for
                 "secret",                     # a variable it was never given
                 # any module: os.remove is as near
                 "__import__('os').getpid"]:
        print(f"eval({text!r}) -> {eval(text)!r}")

    # Removing the builtins does not help: attributes lead from () to every
    # class loaded, including one that loads modules.
    text = ("[c for c in ().__class__.__base__.__subclasses__()"
            " if c.__name__ == 'BuiltinImporter'][0]")
    print("without builtins ->", eval(text, {"__builtins__": {}}, {"x": x}))
    # --8<-- [end:eval_is_not_a_sandbox]


# --8<-- [start:safe_eval]
class FormulaError(ValueError):
    """A formula the evaluator refuses, with the column where it went wrong."""

    def __init__(self, message, node=None):
        self.column = None if node is None else node.col_offset + 1
        where = "" if node is None else f" (column {self.column})"
        super().__init__(message + where)


class NotAFormula(FormulaError):
    """Text that is not one Python expression."""


class NotAllowed(FormulaError):
    """Syntax beyond arithmetic: attributes, indexing, other calls..."""


class UnknownName(FormulaError):
    """A name the caller did not give, or one starting with _."""


class TooLarge(FormulaError):
    """Beyond a stated limit: length, terms, nesting or exponent."""


class NotComputable(FormulaError):
    """Arithmetic that fails, or whose result is not a finite real."""


OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
# a chain of these (a + b - c, a * b / c) is one level of nesting
FAMILY = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}
# (numbers, tensors)
FUNCTIONS = {"exp": (math.exp, torch.exp), "log": (math.log, torch.log),
             "sqrt": (math.sqrt, torch.sqrt), "sin": (math.sin, torch.sin),
             "cos": (math.cos, torch.cos), "tanh": (math.tanh, torch.tanh)}
MAX_LENGTH = 1000        # characters
MAX_TERMS = 200          # numbers and names
MAX_DEPTH = 50           # nested operations
MAX_EXPONENT = 100       # refuse 9**9**9 and the like outright


def safe_eval(formula, variables):
    """Evaluate an arithmetic formula over the given variables; refuse all else.

    Allowed: numbers, the names in variables, + - * / **, unary - and +,
    parentheses, and calls of the functions in FUNCTIONS. Variables may be
    numbers or tensors; on tensors, autograd records the computation.
    Every refusal is a FormulaError of its own kind, naming the column.

    Examples:
        >>> safe_eval("2 * x + y**2", {"x": 1.5, "y": 2.0})
        7.0
        >>> try:
        ...     safe_eval("1 + x.__class__", {"x": 1.0})
        ... except FormulaError as error:
        ...     print(type(error).__name__, error)
        NotAllowed not allowed in a formula: Attribute 'x.__class__' (column 5)
    """
    if not isinstance(formula, str):
        raise NotAFormula(f"a formula is text, not {type(formula).__name__}")
    if len(formula) > MAX_LENGTH:
        raise TooLarge(f"formula longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(formula, mode="eval")          # parsing runs nothing
    except (SyntaxError, RecursionError) as error:
        column = getattr(error, "offset", None)
        where = f" (column {column})" if column else ""
        raise NotAFormula(
            f"not a formula: {getattr(error, 'msg', error)}{where}"
        ) from None
    terms = sum(isinstance(n, (ast.Constant, ast.Name)) for n in ast.walk(tree))
    if terms > MAX_TERMS:
        raise TooLarge(f"formula with more than {MAX_TERMS} terms")

    def computed(node, function, *arguments):
        try:
            result = function(*arguments)
        except (ArithmeticError, ValueError) as error:
            text = ast.unparse(node)
            raise NotComputable(f"{text!r}: {error}", node) from None
        if not torch.is_tensor(result) and not (
                isinstance(result, float) and math.isfinite(result)):
            raise NotComputable(
                f"{ast.unparse(node)!r} is not a finite real number", node
            )
        return result

    def evaluate(node, depth=0):
        if depth > MAX_DEPTH:
            raise TooLarge(f"nested deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return computed(node, float, node.value)  # no bool, str, complex
        if isinstance(node, ast.Name):
            if node.id.startswith("_") or node.id not in variables:
                known = sorted(variables)
                raise UnknownName(f"unknown name {node.id!r}; known: {known}",
                                  node)
            return variables[node.id]
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPERATORS:
            operand = evaluate(node.operand, depth + 1)
            return computed(node, OPERATORS[type(node.op)], operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            family = FAMILY.get(type(node.op))
            same = isinstance(node.left, ast.BinOp) and family is not None \
                and FAMILY.get(type(node.left.op)) == family
            left = evaluate(node.left, depth if same else depth + 1)
            right = evaluate(node.right, depth + 1)
            too_large = isinstance(right, float) and abs(right) > MAX_EXPONENT
            if isinstance(node.op, ast.Pow) and too_large:
                raise TooLarge(
                    f"exponent {right:g} is larger than {MAX_EXPONENT}", node
                )
            return computed(node, OPERATORS[type(node.op)], left, right)
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS or len(node.args) != 1 or node.keywords:
                raise NotAllowed(
                    f"only {', '.join(FUNCTIONS)} may be called, with one "
                    f"argument: {ast.unparse(node)!r}", node
                )
            argument = evaluate(node.args[0], depth + 1)
            on_numbers, on_tensors = FUNCTIONS[name]
            function = on_tensors if torch.is_tensor(argument) else on_numbers
            return computed(node, function, argument)
        raise NotAllowed(f"not allowed in a formula: {type(node).__name__}"
                         f" {ast.unparse(node)!r}", node)

    return evaluate(tree.body)
# --8<-- [end:safe_eval]


@example
def safe_formulas():
    """The safe evaluator computes arithmetic and refuses everything else, saying what it refused."""
    # --8<-- [start:safe_formulas]
    variables = {"x": 0.5, "w0": 1.2, "w1": -3.4}
    for text in [
        "2 * x * w0 + x**2 * w1",
        "-x**2",
        "sqrt(x) * exp(-x) / (1 + x)",
    ]:
        print(f"{text!r:34} = {safe_eval(text, variables):.6f}")

    hostile = [
        "__import__('os').getpid()",         # a call of something not listed
        "x.__class__.__mro__",               # attribute access
        "__builtins__",                      # a dunder name
        "secret",                            # a name it was not given
        "lambda: 0",                         # a function
        "[c for c in (1, 2)]",               # a comprehension
        "import os",                         # a statement, not an expression
        "9**9**9**9",                        # a number too large to compute
        "'a' * 10**9",                       # a string
        "x[0]",                              # indexing
        "(y := 1)",                          # assignment
        "sin(x, x)",                         # a listed function, wrongly called
        "-" * 990 + "x",                     # nesting that exhausts the stack
    ]
    failing = [                              # arithmetic with no real answer
        "1 / (x - x)",
        "log(x - x)",
        "(-8) ** (1 / 3)",
        "(9**100) ** 100",
    ]
    for text in hostile + failing:
        try:
            safe_eval(text, variables)
            print(f"{text[:40]!r:42} ACCEPTED")
        except FormulaError as error:
            print(f"{text[:40]!r:42} {type(error).__name__}: {error}")
    # --8<-- [end:safe_formulas]


@example
def formula_with_autograd():
    """Evaluating the parsed formula on tensors gives back the graph, and exact gradients."""
    # --8<-- [start:formula_with_autograd]
    formula = "2 * x * w0 + x**2 * w1"    # the user's text, never given to eval
    x = torch.tensor([1.])
    w = torch.tensor([1., 1.], requires_grad=True)
    y = safe_eval(formula, {"x": x, "w0": w[0], "w1": w[1]})
    y.sum().backward()
    print("y =", y)
    print("w.grad =", w.grad)
    # --8<-- [end:formula_with_autograd]
    return {"y": y.detach(), "w_grad": w.grad}


# --8<-- [start:string_model_op]
@torch.library.custom_op("autograd_pages::string_model", mutates_args=())
def string_model(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """f_string registered as an operator, one opaque step to PyTorch."""
    # the text is evaluated on the CPU; the result goes where x is, as the
    # fake below says
    return f_string(x, w).to(x.device)


@string_model.register_fake
def _string_model_shape(x, w):
    """What the output looks like, without computing it (for tracing)."""
    return x.new_empty(x.shape, dtype=w.dtype)


def _string_model_setup(ctx, inputs, output):
    x, w = inputs
    ctx.save_for_backward(x, w, output)


def _string_model_backward(ctx, grad_output):
    """Forward differences, Δw = 0.001, made of calls to the operator itself."""
    x, w, y = ctx.saved_tensors
    step = 0.001
    grad_w = []
    for e_i in torch.eye(w.numel(), dtype=w.dtype):
        slope = (string_model(x, w + step * e_i) - y) / step
        grad_w.append((grad_output * slope).sum())
    return None, torch.stack(grad_w)             # no gradient for x


string_model.register_autograd(_string_model_backward,
                               setup_context=_string_model_setup)
# --8<-- [end:string_model_op]


@example
def custom_op_check():
    """The registered operator has the same gradient, and opcheck passes."""
    # --8<-- [start:custom_op_check]
    x = torch.tensor([1., 2.], dtype=torch.float64)
    w = torch.tensor([1., 1.], dtype=torch.float64, requires_grad=True)
    y = string_model(x, w)
    y.sum().backward()
    print("custom op:          w.grad =", w.grad)

    w_function = w.detach().clone().requires_grad_()
    ForwardDifference.apply(f_string, x, w_function).sum().backward()
    print("autograd.Function:  w.grad =", w_function.grad)

    w_exact = w.detach().clone().requires_grad_()
    f(x, w_exact).sum().backward()
    print("autograd through f: w.grad =", w_exact.grad)

    report = torch.library.opcheck(string_model, (x, w))
    for test, outcome in report.items():
        print(f"opcheck {test:28} {outcome}")
    # --8<-- [end:custom_op_check]
    return {"w": w, "w_function": w_function, "w_exact": w_exact,
            "report": report}


@example
def custom_op_compile():
    """torch.compile traces through the operator, not through the string."""
    # --8<-- [start:custom_op_compile]
    x = torch.tensor([1., 2.], dtype=torch.float64)
    w = torch.tensor([1., 1.], dtype=torch.float64, requires_grad=True)

    def loss_op(x, w):
        return string_model(x, w).square().sum()

    def loss_string(x, w):
        return f_string(x, w).square().sum()

    # fullgraph=True: fail rather than fall back to Python for a part
    compiled = torch.compile(loss_op, fullgraph=True, backend="aot_eager")
    compiled(x, w).backward()
    print("compiled, with the custom op: w.grad =", w.grad)
    try:
        torch.compile(loss_string, fullgraph=True, backend="aot_eager")(x, w)
    except Exception as error:                   # torch._dynamo's Unsupported
        print(f"compiled, f_string: {type(error).__name__}:",
              str(error).splitlines()[0])
    # --8<-- [end:custom_op_compile]
    return {"w": w, "x": x}
