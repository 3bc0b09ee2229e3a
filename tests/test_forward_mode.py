"""The truths each example of "Forward mode, Jacobians and Hessians" must show, on its real result."""

import math

import torch
from torch.autograd import gradcheck

from claims import claim
from reader import assert_first_use_warns_once_unless_filtered
from snippets import forward_mode as page
from snippets.pipeline.downloads import section_code

SETUP = section_code("forward_mode", "setup") + "\n"


def exact_jacobian(x):
    """The Jacobian of f(x) = (x0·x1, sin x0, x1²), worked out by hand."""
    x0, x1 = x.tolist()
    return torch.tensor([[x1, x0], [math.cos(x0), 0.0], [0.0, 2 * x1]])


def test_dual_number_tangent_is_the_jacobian_times_the_direction():
    result = page.dual_numbers()
    J = exact_jacobian(result["x"])
    torch.testing.assert_close(result["J"], J)
    torch.testing.assert_close(result["tangent"], J @ result["v"])
    torch.testing.assert_close(result["y"], page.f(result["x"]))


def test_jvp_is_jv_and_vjp_is_what_backward_computes():
    result = page.jvp_and_vjp()
    J = exact_jacobian(result["x"])
    torch.testing.assert_close(result["Jv"], J @ result["v"])
    torch.testing.assert_close(result["uJ"], result["u"] @ J)
    torch.testing.assert_close(result["grad"], result["uJ"])
    assert result["Jv"].shape == (3,) and result["uJ"].shape == (2,)


def test_one_jvp_per_column_and_one_vjp_per_row():
    result = page.column_by_column()     # the last case: the wide Jacobian, 3 x 200
    W, x = result["W"], result["x"]
    m, n = W.shape
    assert (m, n) == (3, 200)
    assert (result["jvps"], result["vjps"]) == (n, m)
    exact = (1 - torch.tanh(W @ x) ** 2)[:, None] * W
    torch.testing.assert_close(result["J_fwd"], exact)
    torch.testing.assert_close(result["J_rev"], exact)


def test_jacfwd_costs_scale_with_inputs_and_jacrev_with_outputs():
    result = page.jacfwd_against_jacrev()    # wide: m = 3 outputs, n = 200 inputs
    m, n = result["W"].shape
    assert result["fwd"] == 2 * m * n * n     # W times an n x n batch of tangents
    assert result["rev"] == 2 * m * m * n     # an m x m batch of cotangents times W
    assert result["rev"] < result["fwd"]
    torch.testing.assert_close(result["J_fwd"], result["J_rev"])


def test_tall_jacobian_prefers_forward_mode():
    torch.manual_seed(0)
    W = torch.randn(200, 3)
    x = torch.randn(3)
    def g(x):
        return torch.tanh(W @ x)
    fwd, _ = _flops(page.jacfwd, g, x)
    rev, _ = _flops(page.jacrev, g, x)
    assert fwd == 2 * 200 * 3 * 3 and rev == 2 * 200 * 200 * 3 and fwd < rev


def _flops(jacobian, g, x):
    with page.FlopCounterMode(display=False) as counter:
        J = jacobian(g)(x)
    return counter.get_total_flops(), J


def test_three_hessian_vector_products_equal_the_hessian_times_v():
    result = page.hessian_vector_products()
    A, x, v = result["A"], result["x"], result["v"]
    H = A + torch.diag(3 * x**2)         # the Hessian of x·Ax/2 + Σx⁴/4, by hand
    torch.testing.assert_close(result["H"], H)
    for hvp in (result["fwd_over_rev"], result["rev_over_rev"]):
        torch.testing.assert_close(hvp, H @ v)
    n = x.numel()
    assert result["fwd_over_rev"].numel() == n and result["H"].numel() == n * n


def test_swish_jvp_is_its_derivative_and_gradcheck_checks_both_modes():
    result = page.swish_forward_ad()
    x = result["x"]
    s = torch.sigmoid(x)
    torch.testing.assert_close(result["tangent"], s + x * s * (1 - s))
    x64 = result["x64"]
    assert gradcheck(page.Swish.apply, (x64,), check_forward_ad=True)
    # x·sigmoid(x) differentiated by autograd agrees with the hand-written derivative
    xs = x64.detach().clone().requires_grad_()
    (xs * torch.sigmoid(xs)).sum().backward()
    torch.testing.assert_close(xs.grad, page.Swish.derivative(x64.detach()))


def test_gradcheck_with_forward_ad_catches_a_wrong_jvp():
    class WrongJvp(page.Swish):
        @staticmethod
        def jvp(ctx, x_tangent):
            (x,) = ctx.saved_tensors
            return torch.sigmoid(x) * x_tangent    # the x·s·(1 - s) term forgotten

    x64 = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    assert gradcheck(WrongJvp.apply, (x64,))       # backward alone is fine
    assert not gradcheck(WrongJvp.apply, (x64,), check_forward_ad=True,
                         raise_exception=False)


def test_jacfwd_and_jacrev_work_on_the_swish_function():
    x = torch.tensor([-2.0, 0.0, 3.0])
    exact = torch.diag(page.Swish.derivative(x))
    torch.testing.assert_close(page.jacfwd(page.Swish.apply)(x), exact)
    torch.testing.assert_close(page.jacrev(page.Swish.apply)(x), exact)




@claim("forward-mode.md", "The filter is for torch 2.14, which deprecates `torch.jit.script` and then calls it itself",
       "that first use prints")
@claim("forward-mode.ja.md", "フィルタは torch 2.14 のためのものです。",
       "その最初の使用時に `FutureWarning: torch.jit.script is deprecated` が出力されます")
def test_torch_2_14_warns_on_the_first_forward_mode_use_unless_the_setup_filters_it():
    """jvp, the first forward-mode use of a page's blocks, warns once in torch 2.14."""
    first_use = "import torch\nfrom torch.func import jvp\njvp(torch.sin, (torch.ones(2),), (torch.ones(2),))\njvp(torch.cos, (torch.ones(2),), (torch.ones(2),))\n"
    assert_first_use_warns_once_unless_filtered(SETUP, first_use)
