"""Examples of the page "Recipes for your own derivative" (docs/derivative-recipes.md).

Each recipe shows a problem happening (a NaN, an explosion, a zero gradient, a
gradient nobody can afford), the ``torch.autograd.Function`` that fixes it, and
the fix working. What the examples return is for the tests in
tests/test_derivative_recipes.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


# --8<-- [start:stable_softplus]
class StableSoftplus(torch.autograd.Function):
    """log(1 + exp(x)) that neither overflows forward nor gives NaN backward."""

    generate_vmap_rule = True    # vmap runs forward and backward as written

    @staticmethod
    def forward(x):
        # exp of a number <= 0
        return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)                # d/dx log(1 + e^x)
# --8<-- [end:stable_softplus]


@example
def softplus_naive():
    """The formula as written: inf forward and NaN backward for large x."""
    # --8<-- [start:softplus_naive]
    x = torch.tensor([-100., 0., 100.], requires_grad=True)     # float32
    y = torch.log(1 + torch.exp(x))
    y.sum().backward()
    print("exp(x) is infinite:  ", torch.exp(x.detach()).isinf())
    print("softplus is infinite:", y.detach().isinf())
    print("d/dx is NaN:         ", x.grad.isnan())
    print(
        "at x = -100 and x = 0: softplus", y.detach()[:2], " d/dx", x.grad[:2]
    )
    # --8<-- [end:softplus_naive]
    return {"y": y.detach(), "grad": x.grad}


@example
def softplus_stable_formula():
    """The rewritten formula is stable, but autograd's answer at 0 depends on how max(x, 0) is spelt."""
    # --8<-- [start:softplus_stable_formula]
    spellings = {
        "clamp(min=0)": lambda x: x.clamp(min=0),
        "relu":         torch.relu,
        "maximum(x,0)": lambda x: torch.maximum(x, torch.zeros_like(x)),
    }
    at_zero = {}
    for name, positive_part in spellings.items():
        x = torch.tensor([0., 100.], requires_grad=True)
        y = positive_part(x) + torch.log1p(torch.exp(-x.abs()))
        y.sum().backward()
        at_zero[name] = x.grad[0].item()
        print(f"{name:13} softplus = {y.detach()}, d/dx = {x.grad}")
    print("sigmoid(0) =", torch.sigmoid(torch.tensor(0.)).item())
    # --8<-- [end:softplus_stable_formula]
    return {"at_zero": at_zero}


@example(atol=0.0)
def softplus_fixed():
    """The Function: finite everywhere, equal to F.softplus, and gradcheck passes."""
    # --8<-- [start:softplus_fixed]
    x = torch.tensor([-100., -1., 0., 1., 100.], requires_grad=True)
    y = StableSoftplus.apply(x)
    y.sum().backward()
    print("softplus =", y.detach())
    print("d/dx     =", x.grad)

    reference = torch.tensor([-100., -1., 0., 1., 100.], requires_grad=True)
    F.softplus(reference).sum().backward()
    value_error = (y - F.softplus(reference)).abs().max()
    derivative_error = (x.grad - reference.grad).abs().max()
    print(f"largest difference from F.softplus: value {value_error:.1e},"
          f" derivative {derivative_error:.1e}")

    points = torch.linspace(-30, 30, 7, dtype=torch.float64, requires_grad=True)
    passed = torch.autograd.gradcheck(StableSoftplus.apply, (points,))
    passed_twice = torch.autograd.gradgradcheck(StableSoftplus.apply, (points,))
    print("gradcheck:", passed, " gradgradcheck:", passed_twice)
    # --8<-- [end:softplus_fixed]
    return {"y": y.detach(), "grad": x.grad, "x": x.detach(), "reference_grad": reference.grad,
            "gradcheck": passed, "gradgradcheck": passed_twice}


@example
def rmse_naive():
    """sqrt of a mean: the gradient is NaN when every error is zero, and one step spreads it."""
    # --8<-- [start:rmse_naive]
    target = torch.tensor([1., 2., 3.])
    prediction = torch.tensor([1., 2., 3.], requires_grad=True)  # a perfect fit

    rmse = torch.sqrt(torch.mean((prediction - target) ** 2))
    rmse.backward()
    print("RMSE =", rmse.item(), " gradient is NaN:", prediction.grad.isnan())

    with torch.no_grad():
        prediction -= 0.1 * prediction.grad                  # one gradient step
    print("prediction after one step is NaN:", prediction.isnan())
    # --8<-- [end:rmse_naive]
    return {"rmse": rmse.item(), "grad": prediction.grad, "after_step": prediction.detach()}


# --8<-- [start:rmse_function]
class RMSE(torch.autograd.Function):
    """sqrt(mean((prediction - target)**2)); subgradient 0 where it is 0."""

    generate_vmap_rule = True

    @staticmethod
    def forward(prediction, target):
        return torch.sqrt(torch.mean((prediction - target) ** 2))

    @staticmethod
    def setup_context(ctx, inputs, output):
        prediction, target = inputs
        # inputs and output only: an intermediate saved here would have no
        # graph behind it, and a second derivative through it would be wrong
        ctx.save_for_backward(prediction, target, output)

    @staticmethod
    def backward(ctx, grad_output):
        prediction, target, value = ctx.saved_tensors
        error = prediction - target              # recomputed, so it is recorded
        # every error exactly zero: a minimum, where error is 0 and so is this;
        # torch.where, not `if`, so that there is no branch on a value (vmap)
        nonzero = torch.where(value == 0, torch.ones_like(value), value)
        d_prediction = grad_output * error / (error.numel() * nonzero)
        return d_prediction, -d_prediction
# --8<-- [end:rmse_function]


@example
def rmse_fixed():
    """The Function at zero error, away from it, against the norm spelling, and under gradcheck."""
    # --8<-- [start:rmse_fixed]
    target = torch.tensor([1., 2., 3.])
    prediction = torch.tensor([1., 2., 3.], requires_grad=True)
    RMSE.apply(prediction, target).backward()
    print("at zero error, gradient =", prediction.grad)

    as_norm = prediction.detach().clone().requires_grad_()
    (torch.linalg.vector_norm(as_norm - target) / 3 ** 0.5).backward()
    print(
        "vector_norm(error) / sqrt(n) at zero error, gradient =", as_norm.grad
    )

    away = torch.tensor([1.5, 1.0, 3.2], requires_grad=True)
    RMSE.apply(away, target).backward()
    plain = away.detach().clone().requires_grad_()
    torch.sqrt(torch.mean((plain - target) ** 2)).backward()
    print("away from zero:", away.grad, "plain autograd:", plain.grad)

    torch.manual_seed(0)
    inputs = (torch.randn(5, dtype=torch.float64, requires_grad=True),
              torch.randn(5, dtype=torch.float64, requires_grad=True))
    passed = torch.autograd.gradcheck(RMSE.apply, inputs)
    print("gradcheck:", passed)
    # --8<-- [end:rmse_fixed]
    return {"at_zero": prediction.grad, "norm_at_zero": as_norm.grad, "away": away.grad,
            "plain": plain.grad, "gradcheck": passed}


@example(atol=0.0)
def rmse_second_derivatives():
    """The Function's Hessian, by autograd and by torch.func, against the formula's."""
    # --8<-- [start:rmse_second_derivatives]
    torch.manual_seed(0)
    prediction = torch.randn(4, dtype=torch.float64, requires_grad=True)
    target = torch.randn(4, dtype=torch.float64)

    (gradient,) = torch.autograd.grad(RMSE.apply(prediction, target),
                                      prediction, create_graph=True)
    by_autograd = torch.stack([
        torch.autograd.grad(gradient[i], prediction, retain_graph=True)[0]
        for i in range(4)
    ])
    by_func = torch.func.jacrev(torch.func.jacrev(
        lambda p: RMSE.apply(p, target)))(prediction.detach())
    formula = torch.func.jacrev(torch.func.jacrev(
        lambda p: torch.sqrt(torch.mean((p - target) ** 2))))(prediction.detach())

    for name, hessian in [("autograd", by_autograd), ("torch.func", by_func)]:
        gap = (hessian - formula).abs().max().item()
        print(f"Hessian by {name} agrees with the formula's to 1e-12:",
              gap < 1e-12)
    inputs = (prediction, target.clone().requires_grad_())
    print("gradgradcheck:", torch.autograd.gradgradcheck(RMSE.apply, inputs))
    # --8<-- [end:rmse_second_derivatives]
    return {"autograd": by_autograd.detach(), "func": by_func, "formula": formula,
            "prediction": prediction.detach(), "target": target}


@example(atol=0.0)
def rmse_epsilon():
    """sqrt(mean + eps): no NaN, but a floor under the value and a gradient that fades near zero."""
    # --8<-- [start:rmse_epsilon]
    eps = 1e-8
    target = torch.zeros(4)
    direction = torch.tensor([1., -1., 2., 0.5])
    print(
        " error scale   RMSE       sqrt(MSE+eps)  |grad| Function  |grad| eps"
    )
    rows = []
    for scale in [1.0, 1e-2, 1e-4, 1e-6, 0.0]:
        exact = (scale * direction).requires_grad_()
        value = RMSE.apply(exact, target)
        value.backward()
        smooth = (scale * direction).requires_grad_()
        smoothed = torch.sqrt(torch.mean((smooth - target) ** 2) + eps)
        smoothed.backward()
        rows.append(
            (scale, value.item(), smoothed.item(), exact.grad.norm().item(),
             smooth.grad.norm().item())
        )
        print(f"{scale:10.0e}  {value.item():9.2e}  {smoothed.item():9.2e}"
              f"      {exact.grad.norm().item():9.2e}"
              f"     {smooth.grad.norm().item():9.2e}")
    # --8<-- [end:rmse_epsilon]
    return {"rows": rows, "eps": eps, "n": direction.numel()}


# --8<-- [start:clip_gradient]
class ClipGradient(torch.autograd.Function):
    """Identity forward; backward clamps the gradient to [-limit, limit]."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, limit):
        return x.view_as(x)     # the same values, as a new tensor of this graph

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, limit = inputs
        ctx.limit = limit       # a number, not a tensor: a plain attribute

    @staticmethod
    def backward(ctx, grad_output):
        # no gradient for `limit`
        return grad_output.clamp(-ctx.limit, ctx.limit), None
# --8<-- [end:clip_gradient]


@example
def clipping_explodes():
    """Gradient descent on w**4 from w = 3: each step overshoots further, until inf and NaN."""
    # --8<-- [start:clipping_explodes]
    w = torch.tensor(3.0, requires_grad=True)
    history = []
    for step in range(7):
        loss = w ** 4
        loss.backward()
        history.append(w.item())
        if step < 4:
            print(f"step {step}: w = {w.item():12.4g}",
                  f"  dloss/dw = {w.grad.item():12.4g}")
        else:
            print(f"step {step}: w is finite: {torch.isfinite(w).item()},"
                  f" dloss/dw is finite: {torch.isfinite(w.grad).item()}")
        with torch.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    print("after step 6, w is NaN:", w.isnan().item())
    # --8<-- [end:clipping_explodes]
    return {"history": history}


@example
def clipping_tamed():
    """The same descent with the gradient clipped to [-1, 1] where it leaves the loss."""
    # --8<-- [start:clipping_tamed]
    w = torch.tensor(3.0, requires_grad=True)
    history = []
    for step in range(60):
        loss = ClipGradient.apply(w, 1.0) ** 4    # the loss itself is unchanged
        loss.backward()
        if step < 4 or step == 59:
            print(f"step {step:2}: w = {w.item():.4f}",
                  f"  clipped dloss/dw = {w.grad.item():.4f}",
                  f"  (unclipped {4 * w.item() ** 3:.4f})")
        history.append(w.item())
        with torch.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    # --8<-- [end:clipping_tamed]
    return {"history": history}


@example
def clipping_gradcheck():
    """gradcheck probes with incoming gradients of 1: a clip at 1 is invisible to it."""
    # --8<-- [start:clipping_gradcheck]
    x = torch.tensor([3., -2.], dtype=torch.float64, requires_grad=True)
    verdicts = {}
    for limit in [1.0, 0.5]:
        verdicts[limit] = torch.autograd.gradcheck(
            lambda x: ClipGradient.apply(x, limit), (x,), raise_exception=False)
        print(f"limit {limit}: gradcheck passes: {verdicts[limit]}")
    # --8<-- [end:clipping_gradcheck]
    return {"verdicts": verdicts}


@example
def clipping_with_a_hook():
    """A hook on w clips like the Function; with two uses of w they differ."""
    # --8<-- [start:clipping_with_a_hook]
    w = torch.tensor(3.0, requires_grad=True)
    w.register_hook(lambda g: g.clamp(-1.0, 1.0))     # once, for every step
    history = []
    for step in range(60):
        loss = w ** 4                                 # no Function in the loss
        loss.backward()
        history.append(w.item())
        with torch.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    print(f"hook: step 59: w = {history[-1]:.4f}")

    # w used twice: 108 comes through w ** 4, 10 through 10 * w
    a = torch.tensor(3.0, requires_grad=True)
    (ClipGradient.apply(a, 1.0) ** 4 + 10 * a).backward()
    b = torch.tensor(3.0, requires_grad=True)
    b.register_hook(lambda g: g.clamp(-1.0, 1.0))
    (b ** 4 + 10 * b).backward()
    print("Function on the w ** 4 path:", a.grad.item(),
          " hook on w:", b.grad.item())
    # --8<-- [end:clipping_with_a_hook]
    return {"history": history, "function_grad": a.grad.item(),
            "hook_grad": b.grad.item()}


@example
def round_gradient():
    """torch.round: a staircase, so its derivative is zero wherever it exists."""
    # --8<-- [start:round_gradient]
    x = torch.tensor([0.2, 1.5, 2.5, -0.7], requires_grad=True)
    rounded = torch.round(x)
    rounded.sum().backward()
    print("round(x) =", rounded.detach())
    print("d/dx     =", x.grad)
    # --8<-- [end:round_gradient]
    return {"rounded": rounded.detach(), "grad": x.grad}


# --8<-- [start:round_ste]
class RoundSTE(torch.autograd.Function):
    """Round forward; backward passes the gradient through, as if for x."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass                    # nothing to keep: the backward is the identity

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
# --8<-- [end:round_ste]


@example
def ste_gradient():
    """The STE passes the gradient through; the detach idiom does the same."""
    # --8<-- [start:ste_gradient]
    x = torch.tensor([0.2, 1.5, 2.5, -0.7], requires_grad=True)
    RoundSTE.apply(x).sum().backward()
    print("RoundSTE:        value", RoundSTE.apply(x).detach(), " d/dx", x.grad)

    y = x.detach().clone().requires_grad_()
    same = y + (torch.round(y) - y).detach()      # value round(y), derivative 1
    same.sum().backward()
    print("detach idiom:    value", same.detach(), " d/dx", y.grad)
    # --8<-- [end:ste_gradient]
    return {"ste_grad": x.grad, "idiom_grad": y.grad, "ste_value": RoundSTE.apply(x).detach(),
            "idiom_value": same.detach()}


@example
def ste_training():
    """Fit integer weights through round: stuck with torch.round, solved with the STE."""
    # --8<-- [start:ste_training]
    torch.manual_seed(0)
    inputs = torch.randn(50, 4)
    true_weights = torch.tensor([2., -1., 3., 0.])
    targets = inputs @ true_weights

    results = {}
    for name, quantise in [
        ("torch.round", torch.round),
        ("RoundSTE", RoundSTE.apply),
    ]:
        w = torch.zeros(4, requires_grad=True)
        losses = []
        for step in range(30):
            loss = torch.mean((inputs @ quantise(w) - targets) ** 2)
            loss.backward()
            losses.append(loss.item())
            with torch.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
        results[name] = (losses, quantise(w).detach())
        every_5 = [round(v, 3) for v in losses[::5]]
        print(f"{name:12} loss every 5 steps: {every_5}")
        print(f"{'':12} weights used: {quantise(w).detach()},",
              f"stored: {w.detach()}")
    # --8<-- [end:ste_training]
    return {"results": results, "true_weights": true_weights,
            "stored": w.detach()}


# --8<-- [start:black_box]
def simulator(w):
    """Three-weight black box, in operations that take complex numbers too.

    Examples:
        >>> simulator(torch.tensor([0., 0., 1.], dtype=torch.float64))
        tensor(1., dtype=torch.float64)
    """
    return torch.exp(-w[0]) * torch.sin(3 * w[1]) + w[2] ** 3 / (1 + w[0] ** 2)


class CentralDifference(torch.autograd.Function):
    """Forward: f(w). Backward: each dF/dw_i by a central difference."""

    @staticmethod
    def forward(f, w, step):
        return f(w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, w, step = inputs
        ctx.f, ctx.step = f, step
        ctx.save_for_backward(w)

    @staticmethod
    @torch.autograd.function.once_differentiable    # f is a black box
    def backward(ctx, grad_output):
        (w,) = ctx.saved_tensors
        slopes = []
        for nudge in ctx.step * torch.eye(w.numel(), dtype=w.dtype):
            difference = ctx.f(w + nudge) - ctx.f(w - nudge)
            slopes.append(difference / (2 * ctx.step))
        return None, grad_output * torch.stack(slopes), None  # none for f, step
# --8<-- [end:black_box]


# --8<-- [start:complex_step]
def complex_step_gradient(f, w, step=1e-20):
    """Gradient of a real scalar f at real w: `Im f(w + i*step*e_k) / step`,
    for each k.

    Examples:
        >>> w = torch.tensor([1., 2.], dtype=torch.float64)
        >>> complex_step_gradient(lambda w: (w ** 3).sum(), w)
        tensor([ 3., 12.], dtype=torch.float64)
    """
    grad = torch.empty_like(w)
    for k in range(w.numel()):
        z = w.to(torch.complex128)
        z[k] += 1j * step
        grad[k] = f(z).imag / step
    return grad
# --8<-- [end:complex_step]


@example(atol=0.0)
def complex_step_reference():
    """The complex step matches the hand-derived gradient to rounding; central differences cannot.

    Complex-step errors at rounding level (a few 1e-16) change with the CPU's
    kernels, so they are printed as a bound.
    """
    # --8<-- [start:complex_step_reference]
    w = torch.tensor([0.3, 0.7, -1.2], dtype=torch.float64)
    a, b, c = w
    by_hand = torch.stack([
        -torch.exp(-a) * torch.sin(3 * b) - 2 * a * c ** 3 / (1 + a ** 2) ** 2,
        3 * torch.exp(-a) * torch.cos(3 * b),
        3 * c ** 2 / (1 + a ** 2),
    ])
    print("by hand      :", by_hand)
    print("complex step :", complex_step_gradient(simulator, w))

    print("   step    central-difference error   complex-step error")
    errors = {}
    for step in [1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-20]:
        central = torch.stack([
            (simulator(w + step * e) - simulator(w - step * e)) / (2 * step)
            for e in torch.eye(3, dtype=torch.float64)])
        complex_step = complex_step_gradient(simulator, w, step)
        errors[step] = ((central - by_hand).abs().max().item(),
                        (complex_step - by_hand).abs().max().item())
        central_error, complex_error = errors[step]
        # at rounding level the digits differ from machine to machine
        shown = f"{complex_error:9.1e}"
        if complex_error < 1e-15:
            shown = "  < 1e-15"
        print(f"  {step:5.0e}          {central_error:9.1e}"
              f"                {shown}")
    # --8<-- [end:complex_step_reference]
    return {"by_hand": by_hand, "complex": complex_step_gradient(simulator, w), "errors": errors}


@example(atol=0.0)
def finite_difference_validated():
    """The central-difference Function passes gradcheck, and matches the complex step to ~1e-10."""
    # --8<-- [start:finite_difference_validated]
    w = torch.tensor([0.3, 0.7, -1.2], dtype=torch.float64, requires_grad=True)
    step = 1e-5
    CentralDifference.apply(simulator, w, step).backward()
    reference = complex_step_gradient(simulator, w.detach())
    print("central-difference backward:", w.grad)
    error = (w.grad - reference).abs().max()
    print(f"largest error against the complex step: {error:.1e}")

    passed = torch.autograd.gradcheck(
        lambda w: CentralDifference.apply(simulator, w, step), (w,)
    )
    print("gradcheck:", passed)
    # --8<-- [end:finite_difference_validated]
    return {"grad": w.grad, "reference": reference, "gradcheck": passed}


@example(atol=0.0)
def gradcheck_is_circular():
    """A single-precision black box: gradcheck passes the bad step and fails the good one."""
    # --8<-- [start:gradcheck_is_circular]
    def simulator_single(w):      # the same formula, computed in float32 inside
        return simulator(w.float()).double()

    w = torch.tensor([0.3, 0.7, -1.2], dtype=torch.float64, requires_grad=True)
    exact = complex_step_gradient(simulator, w.detach())
    print("exact              :", exact)
    outcome = {}
    for step in [1e-6, 5e-3]:             # 1e-6 is gradcheck's own default eps
        (grad,) = torch.autograd.grad(
            CentralDifference.apply(simulator_single, w, step), w
        )
        passed = torch.autograd.gradcheck(
            lambda w: CentralDifference.apply(simulator_single, w, step),
            (w,),
            raise_exception=False,
        )
        error = (grad - exact).abs().max().item()
        outcome[step] = (passed, error)
        print(f"step {step:.0e}: backward {grad}, error {error:.1e},",
              f"gradcheck passes: {passed}")
    # --8<-- [end:gradcheck_is_circular]
    return {"outcome": outcome}


# --8<-- [start:counting_simulator]
class Bowl:
    """A black-box loss of n weights in NumPy that counts its evaluations."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.target = rng.uniform(-1, 1, n)
        self.curvature = np.linspace(0.5, 2.0, n)
        self.evaluations = 0

    def __call__(self, w):
        self.evaluations += 1
        d = w.detach().numpy() - self.target
        return torch.tensor(
            np.sum(self.curvature * d**2 + 0.1 * d**4), dtype=w.dtype
        )


class SPSA(torch.autograd.Function):
    """Forward: f(w). Backward: SPSA, two evaluations for any len(w)."""

    @staticmethod
    def forward(f, w, c):
        return f(w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, w, c = inputs
        ctx.f, ctx.c = f, c
        ctx.save_for_backward(w)

    @staticmethod
    @torch.autograd.function.once_differentiable    # f is a black box
    def backward(ctx, grad_output):
        (w,) = ctx.saved_tensors
        # each entry +1 or -1
        delta = torch.randint(0, 2, w.shape, dtype=w.dtype) * 2 - 1
        slope = (ctx.f(w + ctx.c * delta) - ctx.f(w - ctx.c * delta)) / (
            2 * ctx.c
        )
        # 1/delta_i = delta_i
        return None, grad_output * slope * delta, None


class ForwardDifference(torch.autograd.Function):
    """Forward: f(w). Backward: n forward differences, one per weight."""

    @staticmethod
    def forward(f, w, step):
        return f(w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        f, w, step = inputs
        ctx.f, ctx.step = f, step
        # the output too goes through save_for_backward, never onto ctx
        ctx.save_for_backward(w, output)

    @staticmethod
    @torch.autograd.function.once_differentiable    # f is a black box
    def backward(ctx, grad_output):
        w, value = ctx.saved_tensors
        slopes = []
        for nudge in ctx.step * torch.eye(w.numel(), dtype=w.dtype):
            slopes.append((ctx.f(w + nudge) - value) / ctx.step)
        return None, grad_output * torch.stack(slopes), None
# --8<-- [end:counting_simulator]


@example(atol=0.0)
def spsa_versus_differences():
    """20 weights: SPSA's gradient costs 2 evaluations, forward differences' costs 20."""
    # --8<-- [start:spsa_versus_differences]
    torch.manual_seed(0)
    curves, per_gradient = {}, {}
    for name, estimator, lr, steps, option in [
        ("SPSA", SPSA, 0.02, 300, 0.01),
        ("forward differences", ForwardDifference, 0.2, 43, 1e-6),
    ]:
        bowl = Bowl(20)
        w = torch.zeros(20, dtype=torch.float64, requires_grad=True)
        curve = []
        for step in range(steps):
            loss = estimator.apply(bowl, w, option)            # 1 evaluation
            before = bowl.evaluations
            loss.backward()                         # the gradient's evaluations
            per_gradient.setdefault(name, set()).add(bowl.evaluations - before)
            curve.append((bowl.evaluations, loss.item()))
            with torch.no_grad():
                w -= lr * w.grad
            w.grad = None
        curves[name] = curve
        print(f"{name:20} evaluations per gradient {per_gradient[name]},",
              f"{steps} steps, {bowl.evaluations} evaluations,",
              f"loss {curve[0][1]:.3g} -> {curve[-1][1]:.2g}")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        ax.semilogy(*zip(*curve), label=name)
    ax.set(xlabel="evaluations of the black box", ylabel="loss",
           title="SPSA and forward differences, 20 weights")
    ax.legend()
    plt.show()
    # --8<-- [end:spsa_versus_differences]
    return {"curves": curves, "per_gradient": per_gradient}


@example
def spsa_many_weights():
    """2000 weights and 900 evaluations: not one forward-difference gradient, 300 SPSA steps."""
    # --8<-- [start:spsa_many_weights]
    torch.manual_seed(0)
    n, budget = 2000, 900
    bowl = Bowl(n)
    w = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    print(f"one forward-difference step needs {n + 1} evaluations;",
          f"the budget is {budget}")
    losses = []
    while bowl.evaluations + 3 <= budget:
        loss = SPSA.apply(bowl, w, 0.01)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            w -= 0.4 / n * w.grad
        w.grad = None
    print(f"SPSA: {len(losses)} steps, {bowl.evaluations} evaluations,"
          f" loss {losses[0]:.1f} -> {losses[-1]:.1f}")
    # --8<-- [end:spsa_many_weights]
    return {"losses": losses, "evaluations": bowl.evaluations, "budget": budget, "n": n}


# --8<-- [start:fixed_point]
class FixedPoint(torch.autograd.Function):
    """z = tanh(W z + x) by iteration; backward by the adjoint equation."""

    @staticmethod
    def forward(x, W):
        z = torch.zeros_like(x)
        for _ in range(1000):                    # runs without recording
            z_next = torch.tanh(W @ z + x)
            if torch.allclose(z_next, z, rtol=0, atol=1e-13):
                break
            z = z_next
        return z_next

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, W = inputs
        ctx.save_for_backward(W, output)         # no iterations kept

    @staticmethod
    def backward(ctx, grad_z):
        W, z = ctx.saved_tensors
        s = 1 - z**2                             # tanh' at the fixed point
        J = s[:, None] * W                       # ∂F/∂z of one iteration
        I = torch.eye(len(z), dtype=z.dtype)
        u = torch.linalg.solve((I - J).T, grad_z)    # (I - J)^T u = dL/dz
        grad_a = s * u                           # back through tanh to W z + x
        return grad_a, torch.outer(grad_a, z)    # dL/dx, dL/dW
# --8<-- [end:fixed_point]


@example(atol=0.0)
def implicit_gradient():
    """The implicit gradient equals the gradient through the unrolled iterations."""
    # --8<-- [start:implicit_gradient]
    torch.manual_seed(0)
    n = 4
    W = (0.3 * torch.randn(n, n, dtype=torch.float64)).requires_grad_()
    x = torch.randn(n, dtype=torch.float64, requires_grad=True)

    z = FixedPoint.apply(x, W)
    residual = (z - torch.tanh(W @ z + x)).abs().max().item()
    print("a fixed point, |z - tanh(Wz + x)| < 1e-12:", residual < 1e-12)
    (z**2).sum().backward()
    implicit = (x.grad.clone(), W.grad.clone())

    x.grad = W.grad = None
    z_unrolled = torch.zeros(n, dtype=torch.float64)
    for _ in range(100):                         # autograd records all 100
        z_unrolled = torch.tanh(W @ z_unrolled + x)
    (z_unrolled**2).sum().backward()

    for name, a, b in [("x", implicit[0], x.grad), ("W", implicit[1], W.grad)]:
        gap = (a - b).abs().max().item()
        print(f"dL/d{name}: implicit and unrolled agree to 1e-10:", gap < 1e-10)
    inputs = (x.detach().requires_grad_(), W.detach().requires_grad_())
    print("gradcheck:", torch.autograd.gradcheck(FixedPoint.apply, inputs))
    print("gradgradcheck:",
          torch.autograd.gradgradcheck(FixedPoint.apply, inputs))
    # --8<-- [end:implicit_gradient]
    return {"x": x, "W": W, "z": z.detach(), "implicit": implicit,
            "unrolled": (x.grad, W.grad)}
