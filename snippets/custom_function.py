"""Examples of the page "Custom forward and backward" (docs/custom-function.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_custom_function.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.autograd.function import once_differentiable
from torch.autograd.gradcheck import GradcheckError

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


# --8<-- [start:scaled_tanh]
class ScaledTanh(torch.autograd.Function):
    """y = 4 tanh(x / 4), with its derivative written by hand."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)             # backward needs x to compute dy/dx
        return 4 * torch.tanh(x / 4)

    @staticmethod
    def backward(ctx, grad_output):              # grad_output is dL/dy
        (x,) = ctx.saved_tensors
        dy_dx = 1 / torch.cosh(x / 4) ** 2
        return grad_output * dy_dx               # dL/dx = dL/dy * dy/dx
# --8<-- [end:scaled_tanh]


@example
def scaled_tanh_gradient():
    """The hand-written backward agrees with autograd and with the closed form."""
    # --8<-- [start:scaled_tanh_gradient]
    x = torch.tensor([0., 4.], requires_grad=True)
    y = ScaledTanh.apply(x)
    L = (y**2).sum()
    L.backward()
    print("y               =", y)
    print("x.grad          =", x.grad)

    x_builtin = torch.tensor([0., 4.], requires_grad=True)
    # autograd differentiates tanh itself
    y_builtin = 4 * torch.tanh(x_builtin / 4)
    (y_builtin**2).sum().backward()
    print("built-in        =", x_builtin.grad)

    closed_form = 2 * y.detach() / torch.cosh(x.detach() / 4) ** 2
    print("2y / cosh²(x/4) =", closed_form)
    # --8<-- [end:scaled_tanh_gradient]
    return {"x": x, "y": y, "builtin_grad": x_builtin.grad, "closed_form": closed_form}


@example
def scaled_tanh_plot():
    """The function and the derivative its backward computes, on one plot."""
    # --8<-- [start:scaled_tanh_plot]
    x = torch.linspace(-12, 12, 241, requires_grad=True)
    y = ScaledTanh.apply(x)
    y.backward(torch.ones_like(y))  # a gradient of ones: x.grad is dy/dx itself

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x.detach(), y.detach(), label="y = 4 tanh(x/4)")
    ax.plot(x.detach(), x.grad, label="dy/dx = 1/cosh²(x/4), from backward")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set(xlabel="x", title="The scaled tanh and its derivative")
    ax.legend(loc="upper left")                # where no curve runs
    plt.show()
    # --8<-- [end:scaled_tanh_plot]
    return {"x": x.detach(), "y": y.detach(), "dy_dx": x.grad}


@example
def apply_not_the_class():
    """A Function is used through apply; calling the class computes nothing."""
    # --8<-- [start:apply_not_the_class]
    x = torch.tensor([0., 4.], requires_grad=True)
    print("ScaledTanh.apply(x):", ScaledTanh.apply(x))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        not_a_result = ScaledTanh(x)
        print("ScaledTanh(x) gives a", type(not_a_result).__name__,
              "object, not a tensor")
        try:
            ScaledTanh()(x)
        except RuntimeError as error:
            message = str(error)
            print("ScaledTanh()(x) raises RuntimeError:", error)
    first = caught[0]
    print(f"each instantiation warns, {first.category.__name__}:",
          str(first.message).replace(repr(ScaledTanh), "ScaledTanh"))
    # --8<-- [end:apply_not_the_class]
    return {"not_a_result": not_a_result, "caught": [w.category for w in caught],
            "message": message}


# --8<-- [start:repeat_activation]
ACTIVATIONS: dict = {  # name -> (function, its derivative)
    "tanh": (torch.tanh, lambda x: 1 / torch.cosh(x) ** 2),
    "sigmoid": (torch.sigmoid,
                lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
}


class RepeatActivation(torch.autograd.Function):
    """Apply the activation named by a string, then stack `copies` copies."""

    @staticmethod
    def forward(ctx, x, copies, activation):
        ctx.save_for_backward(x)         # tensors: through save_for_backward
        ctx.copies = copies              # anything else: a plain attribute
        ctx.activation = activation
        function, _ = ACTIVATIONS[activation]
        return torch.stack([function(x)] * copies)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        _, derivative = ACTIVATIONS[ctx.activation]
        # each copy sends its gradient back
        grad_x = grad_output.sum(dim=0) * derivative(x)
        # one per input of forward: x, copies, activation
        return grad_x, None, None
# --8<-- [end:repeat_activation]


@example
def repeat_activation_gradient():
    """One gradient per input of forward, None for the integer and the string."""
    # --8<-- [start:repeat_activation_gradient]
    x = torch.tensor([-1., 0., 2.], requires_grad=True)
    y = RepeatActivation.apply(x, 3, "sigmoid")
    print("y.shape:", tuple(y.shape))
    # weights 1, 2, 3 for the copies
    (y * torch.tensor([[1.], [2.], [3.]])).sum().backward()
    print("x.grad  :", x.grad)

    s = torch.sigmoid(x.detach())
    print("6σ(1-σ) :", 6 * s * (1 - s))
    # --8<-- [end:repeat_activation_gradient]
    return {"x": x, "y": y}


# --8<-- [start:sin_cos]
class SinCos(torch.autograd.Function):
    """Two outputs, so backward receives two incoming gradients."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x), torch.cos(x)

    @staticmethod
    def backward(ctx, grad_sin, grad_cos):    # one incoming gradient per output
        (x,) = ctx.saved_tensors
        return grad_sin * torch.cos(x) - grad_cos * torch.sin(x)
# --8<-- [end:sin_cos]


@example
def sin_cos_gradient():
    """Both incoming gradients reach backward; an unused output sends zeros."""
    # --8<-- [start:sin_cos_gradient]
    x = torch.tensor([0., 1., 2.], requires_grad=True)
    s, c = SinCos.apply(x)
    into = {}                      # what flows into each output
    s.register_hook(lambda grad: into.update(sin=grad))
    c.register_hook(lambda grad: into.update(cos=grad))
    L = (2 * s + 3 * c).sum()
    L.backward()
    print("gradient into sin:", into["sin"])
    print("gradient into cos:", into["cos"])
    print("x.grad            :", x.grad)
    print("2cos(x) - 3sin(x) :",
          2 * torch.cos(x.detach()) - 3 * torch.sin(x.detach()))

    x2 = torch.tensor([0., 1., 2.], requires_grad=True)
    s2, c2 = SinCos.apply(x2)
    s2.sum().backward()            # c2 unused: backward gets zeros for grad_cos
    print("only sin used     :", x2.grad, "= cos(x)")
    # --8<-- [end:sin_cos_gradient]
    return {"x": x, "x2": x2, "into": into}


@example
def gradcheck_every_function():
    """gradcheck and gradgradcheck pass, in float64, for the Functions above."""
    # --8<-- [start:gradcheck_every_function]
    torch.manual_seed(0)
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    functions = {
        "ScaledTanh": ScaledTanh.apply,
        "RepeatActivation, tanh":
            lambda x: RepeatActivation.apply(x, 3, "tanh"),
        "RepeatActivation, sigmoid":
            lambda x: RepeatActivation.apply(x, 2, "sigmoid"),
        "SinCos": SinCos.apply,
    }
    verdicts = {}
    for name, function in functions.items():
        first = gradcheck(function, (x,))
        second = gradgradcheck(function, (x,))
        verdicts[name] = (first, second)
        print(f"{name:26} gradcheck: {first}  gradgradcheck: {second}")
    # --8<-- [end:gradcheck_every_function]
    return {"x": x, "verdicts": verdicts}


@example
def gradcheck_float32():
    """In float32 the finite differences are too coarse: a correct backward fails."""
    # --8<-- [start:gradcheck_float32]
    torch.manual_seed(0)
    x32 = torch.randn(4, requires_grad=True)            # float32
    passed = gradcheck(ScaledTanh.apply, (x32,), raise_exception=False)
    print("gradcheck in float32:", passed)
    # --8<-- [end:gradcheck_float32]
    return {"passed": passed}


# --8<-- [start:wrong_backward]
class ScaledTanhWrongBackward(ScaledTanh):
    """The same forward, and a backward with a bug: the square is missing."""

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        # should be / torch.cosh(x / 4) ** 2
        return grad_output / torch.cosh(x / 4)
# --8<-- [end:wrong_backward]


@example
def gradcheck_wrong_backward():
    """gradcheck compares the backward with finite differences and shows the mismatch."""
    # --8<-- [start:gradcheck_wrong_backward]
    x = torch.tensor([0., 2., 4.], dtype=torch.float64, requires_grad=True)
    try:
        gradcheck(ScaledTanhWrongBackward.apply, (x,))
    except GradcheckError as error:
        print("GradcheckError:", error)
    # --8<-- [end:gradcheck_wrong_backward]
    return {"x": x}


# --8<-- [start:scaled_tanh_modern]
class ScaledTanhModern(torch.autograd.Function):
    """y = scale * tanh(x / scale), for a tensor x and a tensor scale."""

    generate_vmap_rule = True                    # works under torch.func.vmap

    @staticmethod
    def forward(x, scale):                       # no ctx: forward only computes
        return scale * torch.tanh(x / scale)

    @staticmethod
    def setup_context(ctx, inputs, output):      # ctx is filled in here instead
        x, scale = inputs
        ctx.save_for_backward(x, scale)

    @staticmethod
    def backward(ctx, grad_output):
        x, scale = ctx.saved_tensors
        u = x / scale
        sech2 = 1 / torch.cosh(u) ** 2
        grad_x = grad_scale = None
        if ctx.needs_input_grad[0]:              # skip work nobody asked for
            grad_x = grad_output * sech2
        if ctx.needs_input_grad[1]:
            grad_scale = (
                grad_output * (torch.tanh(u) - u * sech2)
            ).sum_to_size(scale.shape)
        return grad_x, grad_scale
# --8<-- [end:scaled_tanh_modern]


@example
def modern_needs_input_grad():
    """setup_context fills ctx; needs_input_grad says which gradients are wanted."""
    # --8<-- [start:modern_needs_input_grad]
    x = torch.tensor([0., 4.], requires_grad=True)
    scale = torch.tensor(4.)                                  # a constant
    y = ScaledTanhModern.apply(x, scale)
    print("needs_input_grad:", y.grad_fn.needs_input_grad)  # grad_fn is the ctx
    (y**2).sum().backward()
    print("x.grad:", x.grad, " scale.grad:", scale.grad)

    x = torch.tensor([0., 4.], requires_grad=True)
    scale = torch.tensor(4., requires_grad=True)              # now learnable
    y = ScaledTanhModern.apply(x, scale)
    print("needs_input_grad:", y.grad_fn.needs_input_grad)
    (y**2).sum().backward()
    print("x.grad:", x.grad, " scale.grad:", scale.grad)

    x_ref = torch.tensor([0., 4.], requires_grad=True)
    scale_ref = torch.tensor(4., requires_grad=True)
    ((scale_ref * torch.tanh(x_ref / scale_ref))**2).sum().backward()
    print("built-in: x.grad:", x_ref.grad, " scale.grad:", scale_ref.grad)

    x64 = torch.tensor([0.5, -1., 3.], dtype=torch.float64, requires_grad=True)
    scale64 = torch.tensor(4., dtype=torch.float64, requires_grad=True)
    verdicts = (gradcheck(ScaledTanhModern.apply, (x64, scale64)),
                gradgradcheck(ScaledTanhModern.apply, (x64, scale64)))
    print("gradcheck:", verdicts[0], " gradgradcheck:", verdicts[1])
    # --8<-- [end:modern_needs_input_grad]
    return {"x": x, "scale": scale, "x_ref": x_ref, "scale_ref": scale_ref,
            "needs": y.grad_fn.needs_input_grad, "verdicts": verdicts}


@example
def needs_input_grad_is_fixed():
    """needs_input_grad is fixed when forward runs, whatever a backward call asks for."""
    # --8<-- [start:needs_input_grad_is_fixed]
    x = torch.tensor([0., 4.], requires_grad=True)
    scale = torch.tensor(4., requires_grad=True)
    y = ScaledTanhModern.apply(x, scale)
    loss = (y**2).sum()
    ctx = y.grad_fn
    seen, returned = [], []
    # runs just before backward: the tuple backward reads
    ctx.register_prehook(
        lambda grad_outputs: seen.append(ctx.needs_input_grad))
    # runs just after: which of (grad_x, grad_scale) backward computed
    ctx.register_hook(lambda grad_inputs, grad_outputs: returned.append(
        tuple(g is not None for g in grad_inputs)))

    loss.backward(retain_graph=True)
    print("loss.backward():            ",
          "needs_input_grad", seen[-1], " computed", returned[-1])
    (grad_x,) = torch.autograd.grad(loss, x)             # asks for x only
    print("torch.autograd.grad(loss, x):",
          "needs_input_grad", seen[-1], " computed", returned[-1])
    # --8<-- [end:needs_input_grad_is_fixed]
    return {"seen": seen, "returned": returned, "grad_x": grad_x, "x": x}


# --8<-- [start:numpy_scaled_tanh]
class NumpyScaledTanh(torch.autograd.Function):
    """4 tanh(x / 4) computed in NumPy, where autograd cannot follow."""

    @staticmethod
    def forward(x):
        return torch.from_numpy(4 * np.tanh(x.detach().numpy() / 4))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    @once_differentiable         # this backward cannot itself be differentiated
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        dy_dx = 1 / np.cosh(x.detach().numpy() / 4) ** 2
        return grad_output * torch.from_numpy(dy_dx)
# --8<-- [end:numpy_scaled_tanh]


@example
def once_differentiable_second_derivative():
    """A once-differentiable backward gives first derivatives and refuses second ones."""
    # --8<-- [start:once_differentiable_second_derivative]
    x = torch.tensor([0., 4.], requires_grad=True)
    y = NumpyScaledTanh.apply(x)
    (grad,) = torch.autograd.grad((y**2).sum(), x, create_graph=True)
    print("first derivative:", grad)
    try:
        grad.sum().backward()       # a second derivative would go through NumPy
    except RuntimeError as error:
        message = str(error)
        print("RuntimeError:", error)

    x64 = torch.tensor([0.5, -1., 3.], dtype=torch.float64, requires_grad=True)
    verdicts = (gradcheck(NumpyScaledTanh.apply, (x64,)),
                gradgradcheck(NumpyScaledTanh.apply, (x64,),
                              raise_exception=False))
    print("gradcheck:", verdicts[0], " gradgradcheck:", verdicts[1])
    # --8<-- [end:once_differentiable_second_derivative]
    return {"x": x, "grad": grad.detach(), "grad_fn": type(grad.grad_fn).__name__,
            "message": message, "verdicts": verdicts}


# --8<-- [start:max_with_index]
class MaxWithIndex(torch.autograd.Function):
    """The largest entry of each row, and where it is."""

    @staticmethod
    def forward(x):
        values, indices = x.max(dim=-1)
        return values, indices

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        values, indices = output
        ctx.mark_non_differentiable(indices)    # integer positions: no gradient
        ctx.save_for_backward(indices)
        ctx.shape = x.shape

    @staticmethod
    def backward(ctx, grad_values, grad_indices):   # grad_indices is never used
        (indices,) = ctx.saved_tensors
        grad_x = grad_values.new_zeros(ctx.shape)
        return grad_x.scatter(
            -1, indices.unsqueeze(-1), grad_values.unsqueeze(-1)
        )
# --8<-- [end:max_with_index]


@example
def non_differentiable_indices():
    """The indices output does not require grad; the gradient goes to the maxima."""
    # --8<-- [start:non_differentiable_indices]
    x = torch.tensor([[1., 5., 2.],
                      [7., 0., 3.]], requires_grad=True)
    values, indices = MaxWithIndex.apply(x)
    print("values:", values, " requires_grad:", values.requires_grad)
    print("indices:", indices, " requires_grad:", indices.requires_grad)
    (values * torch.tensor([10., 20.])).sum().backward()
    print("x.grad:", x.grad)

    torch.manual_seed(0)
    x64 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    verdicts = (gradcheck(MaxWithIndex.apply, (x64,)),
                gradgradcheck(MaxWithIndex.apply, (x64,)))
    print("gradcheck:", verdicts[0], " gradgradcheck:", verdicts[1])
    # --8<-- [end:non_differentiable_indices]
    return {"x": x, "values": values, "indices": indices, "verdicts": verdicts}


@example
def vmap_per_sample_gradients():
    """With generate_vmap_rule, the Function works under vmap and matches a loop."""
    # --8<-- [start:vmap_per_sample_gradients]
    torch.manual_seed(0)
    batch = torch.randn(4, 3)
    scale = torch.tensor(4.)

    batched = torch.func.vmap(ScaledTanhModern.apply, in_dims=(0, None))(
        batch, scale
    )
    looped = torch.stack([ScaledTanhModern.apply(row, scale) for row in batch])
    print("forward, vmap equals loop:", torch.allclose(batched, looped))

    def loss(row, scale):
        return (ScaledTanhModern.apply(row, scale) ** 2).sum()

    per_sample = torch.func.vmap(
        torch.func.grad(loss, argnums=(0, 1)), in_dims=(0, None)
    )
    grad_rows, grad_scales = per_sample(batch, scale)  # one gradient per sample
    print("d loss / d scale, per sample:", grad_scales)

    loop_rows, loop_scales = [], []
    for row in batch:
        row = row.clone().requires_grad_()
        s = scale.clone().requires_grad_()
        loss(row, s).backward()
        loop_rows.append(row.grad)
        loop_scales.append(s.grad)
    print("the same, by a loop:         ", torch.stack(loop_scales))
    print(
        "gradients, vmap equals loop:",
        torch.allclose(grad_rows, torch.stack(loop_rows))
        and torch.allclose(grad_scales, torch.stack(loop_scales)),
    )

    try:
        torch.func.vmap(ScaledTanh.apply)(batch)  # the form with ctx in forward
    except RuntimeError as error:
        message = str(error)
        print("RuntimeError:", error)
    # --8<-- [end:vmap_per_sample_gradients]
    return {"batched": batched, "looped": looped, "grad_rows": grad_rows, "grad_scales": grad_scales,
            "loop_rows": torch.stack(loop_rows), "loop_scales": torch.stack(loop_scales),
            "message": message}


@example
def vmap_numpy_fails():
    """Under generate_vmap_rule, NumPy code meets a batched tensor and raises."""
    # --8<-- [start:vmap_numpy_fails]
    class NumpyWithRule(NumpyScaledTanh):
        generate_vmap_rule = True       # derive the rule by running the code

    torch.manual_seed(0)
    batch = torch.randn(4, 3)
    try:
        torch.func.vmap(NumpyWithRule.apply)(batch)
    except RuntimeError as error:
        message = str(error)
        print("RuntimeError:", error)
    # --8<-- [end:vmap_numpy_fails]
    return {"message": message}
