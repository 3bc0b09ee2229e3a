"""Examples of the page "Forward mode, Jacobians and Hessians" (docs/forward-mode.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_forward_mode.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import warnings

import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd import gradcheck
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp
from torch.utils.flop_counter import FlopCounterMode

torch.set_printoptions(precision=4, sci_mode=False)
# torch 2.14 deprecates torch.jit.script, and calls it itself
# the first time forward-mode AD runs
warnings.filterwarnings(
    "ignore", "`torch.jit.script` is deprecated", FutureWarning)
# --8<-- [end:setup]


# --8<-- [start:small_function]
def f(x):
    """A function from R² to R³: (x0·x1, sin x0, x1²).

    Examples:
        >>> f(torch.tensor([0., 2.])).tolist()
        [0.0, 0.0, 4.0]
    """
    return torch.stack([x[0] * x[1], torch.sin(x[0]), x[1] ** 2])
# --8<-- [end:small_function]


@example
def dual_numbers():
    """A dual tensor carries a tangent through f: the result is J v."""
    # --8<-- [start:dual_numbers]
    x = torch.tensor([1., 2.])
    v = torch.tensor([1., 0.])                  # the direction: along x0

    with fwAD.dual_level():
        dual_x = fwAD.make_dual(x, v)           # x + v·ε, with ε² = 0
        dual_y = f(dual_x)                      # one forward pass
        y, tangent = fwAD.unpack_dual(dual_y)

    J = torch.autograd.functional.jacobian(f, x)
    print("f(x)    :", y)
    print("tangent :", tangent)
    print("J v     :", J @ v)
    print("J =\n", J)
    # --8<-- [end:dual_numbers]
    return {"x": x, "v": v, "y": y, "tangent": tangent, "J": J}


@example
def jvp_and_vjp():
    """jvp pushes an input-sized vector forward, vjp pulls an output-sized one back."""
    # --8<-- [start:jvp_and_vjp]
    x = torch.tensor([1., 2.])
    v = torch.tensor([0., 1.])                  # input-sized: 2 numbers
    u = torch.tensor([1., 1., 1.])              # output-sized: 3 numbers

    y, Jv = jvp(f, (x,), (v,))                  # forward mode: J v
    y, pullback = vjp(f, x)                     # reverse mode: keeps the graph
    (uJ,) = pullback(u)                         # u^T J, as backward(u) does
    print("J v   :", Jv, " shape", tuple(Jv.shape))
    print("u^T J :", uJ, " shape", tuple(uJ.shape))

    x_leaf = x.clone().requires_grad_()
    f(x_leaf).backward(u)
    print("backward(u) puts into .grad:", x_leaf.grad)
    # --8<-- [end:jvp_and_vjp]
    return {"x": x, "v": v, "u": u, "Jv": Jv, "uJ": uJ, "grad": x_leaf.grad}


@example
def column_by_column():
    """A Jacobian needs one JVP per input or one VJP per output: count them."""
    # --8<-- [start:column_by_column]
    def jacobian_by_jvp(g, x):
        """One forward pass per input: each gives a column of J."""
        columns = [jvp(g, (x,), (e,))[1] for e in torch.eye(x.numel())]
        return torch.stack(columns, dim=1), len(columns)

    def jacobian_by_vjp(g, x):
        """One forward pass, then one backward pass per output (a row)."""
        y, pullback = vjp(g, x)
        rows = [pullback(e)[0] for e in torch.eye(y.numel())]
        return torch.stack(rows), len(rows)

    torch.manual_seed(0)
    for n, m in [(3, 200), (200, 3)]:           # tall, then wide
        W = torch.randn(m, n)
        g = lambda x: torch.tanh(W @ x)         # noqa: E731 - R^n to R^m
        x = torch.randn(n)
        J_fwd, jvps = jacobian_by_jvp(g, x)
        J_rev, vjps = jacobian_by_vjp(g, x)
        shape = "tall" if m > n else "wide"
        print(f"{shape} J, {m} x {n}: {jvps} JVPs or {vjps} VJPs,",
              "same J:", torch.allclose(J_fwd, J_rev, atol=1e-6))
    # --8<-- [end:column_by_column]
    return {"J_fwd": J_fwd, "J_rev": J_rev, "jvps": jvps, "vjps": vjps,
            "W": W, "x": x}


@example
def jacfwd_against_jacrev():
    """jacfwd and jacrev batch those passes with vmap; the work still scales."""
    # --8<-- [start:jacfwd_against_jacrev]
    def multiplications(jacobian, g, x):
        """Floating-point operations of the matrix products, as counted
        by PyTorch's FLOP counter, and the Jacobian itself."""
        with FlopCounterMode(display=False) as counter:
            J = jacobian(g)(x)
        return counter.get_total_flops(), J

    torch.manual_seed(0)
    for n, m in [(3, 200), (200, 3)]:
        W = torch.randn(m, n)
        g = lambda x: torch.tanh(W @ x)         # noqa: E731
        x = torch.randn(n)
        fwd, J_fwd = multiplications(jacfwd, g, x)
        rev, J_rev = multiplications(jacrev, g, x)
        shape = "tall" if m > n else "wide"
        print(f"{shape} J, {m} x {n}: jacfwd {fwd:6} flops,",
              f"jacrev {rev:6} flops,",
              "same J:", torch.allclose(J_fwd, J_rev, atol=1e-6))
    # --8<-- [end:jacfwd_against_jacrev]
    return {"fwd": fwd, "rev": rev, "J_fwd": J_fwd, "J_rev": J_rev,
            "W": W, "x": x}


# --8<-- [start:quartic]
def quartic(x, A):
    """x·Ax / 2 + Σ x⁴ / 4, whose Hessian is A + diag(3x²) for a symmetric A.

    Examples:
        >>> quartic(torch.tensor([1., 2.]), torch.eye(2)).item()
        6.75
    """
    return x @ A @ x / 2 + (x**4).sum() / 4
# --8<-- [end:quartic]


@example
def hessian_vector_products():
    """Forward-over-reverse, reverse-over-reverse and the full Hessian agree."""
    # --8<-- [start:hessian_vector_products]
    torch.manual_seed(0)
    n = 5
    B = torch.randn(n, n, dtype=torch.float64)
    A = B + B.T                                 # symmetric
    x = torch.randn(n, dtype=torch.float64)
    v = torch.randn(n, dtype=torch.float64)
    loss = lambda x: quartic(x, A)              # noqa: E731

    # forward over reverse: the JVP of the gradient function
    _, fwd_over_rev = jvp(grad(loss), (x,), (v,))

    # reverse over reverse: the VJP of the gradient function
    _, pullback = vjp(grad(loss), x)
    (rev_over_rev,) = pullback(v)

    H = hessian(loss)(x)                        # n x n numbers
    full = H @ v

    print("forward over reverse:", fwd_over_rev)
    print("reverse over reverse:", rev_over_rev)
    print("H v                 :", full)
    print("all equal:", torch.allclose(fwd_over_rev, full)
          and torch.allclose(rev_over_rev, full))
    print(f"memory: an HVP holds {fwd_over_rev.numel()} numbers,",
          f"the Hessian {H.numel()}")
    # --8<-- [end:hessian_vector_products]
    return {"A": A, "x": x, "v": v, "fwd_over_rev": fwd_over_rev,
            "rev_over_rev": rev_over_rev, "H": H}


# --8<-- [start:swish]
class Swish(torch.autograd.Function):
    """y = x·sigmoid(x), with both derivatives written by hand."""

    generate_vmap_rule = True                   # for jacfwd, jacrev, vmap

    @staticmethod
    def forward(x):
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)                # for backward
        ctx.save_for_forward(x)                 # for jvp

    @staticmethod
    def derivative(x):
        s = torch.sigmoid(x)
        return s + x * s * (1 - s)

    @staticmethod
    def backward(ctx, grad_output):             # reverse mode: dL/dy in
        (x,) = ctx.saved_tensors
        return grad_output * Swish.derivative(x)

    @staticmethod
    def jvp(ctx, x_tangent):                    # forward mode: dx in
        (x,) = ctx.saved_tensors
        return Swish.derivative(x) * x_tangent
# --8<-- [end:swish]


@example
def swish_forward_ad():
    """The jvp method carries tangents; gradcheck checks both directions."""
    # --8<-- [start:swish_forward_ad]
    x = torch.tensor([-2., 0., 3.])
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones(3))
        tangent = fwAD.unpack_dual(Swish.apply(dual)).tangent
    print("tangent     :", tangent)
    print("derivative  :", Swish.derivative(x))

    torch.manual_seed(0)
    x64 = torch.randn(4, dtype=torch.float64, requires_grad=True)
    print("gradcheck, backward and forward:",
          gradcheck(Swish.apply, (x64,), check_forward_ad=True))

    class SwishNoJvp(Swish):
        jvp = torch.autograd.Function.jvp       # the default: not implemented

    with fwAD.dual_level():
        try:
            SwishNoJvp.apply(fwAD.make_dual(x, torch.ones(3)))
        except NotImplementedError as error:
            print("NotImplementedError:", error)
    # --8<-- [end:swish_forward_ad]
    return {"x": x, "tangent": tangent, "x64": x64}
