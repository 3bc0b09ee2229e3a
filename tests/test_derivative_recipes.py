"""The truths each recipe of "Recipes for your own derivative" must show, on its real result:
the naive version fails (NaN, explosion, zero gradient, unaffordable cost) and the fix does not."""

import gc
import importlib
import inspect
import math
import weakref

import pytest
import torch

from snippets import derivative_recipes as page
from snippets.pipeline import versions
from snippets.pipeline.examples import page_modules


# 1. softplus

def test_naive_softplus_overflows_forward_and_is_nan_backward():
    result = page.softplus_naive()
    y, grad = result["y"], result["grad"]
    assert math.isinf(y[2]) and math.isnan(grad[2])      # x = 100
    assert grad[1].item() == 0.5                          # fine where nothing overflows


def test_stable_formula_under_autograd_depends_on_the_spelling_at_zero():
    """torch 2.14 made clamp's gradient at its bound 0 (it was 1 up to 2.13, pytorch issue 195931)."""
    at_zero = page.softplus_stable_formula()["at_zero"]
    clamp_at_bound = 0.0 if versions.minor_of(torch.__version__) >= "2.14" else 1.0
    assert at_zero == {"clamp(min=0)": clamp_at_bound, "relu": 0.0, "maximum(x,0)": 0.5}


def test_every_spelling_stays_inside_the_subgradients_at_zero():
    """Autograd mechanics: for a convex kink, the subgradient of minimum norm. For max(x, 0)
    the subgradients at 0 are [0, 1]; every spelling stays inside."""
    at_zero = page.softplus_stable_formula()["at_zero"]
    assert all(0.0 <= slope <= 1.0 for slope in at_zero.values())
    assert at_zero["relu"] == 0.0


def test_stable_softplus_is_finite_matches_softplus_and_passes_gradcheck():
    result = page.softplus_fixed()
    assert torch.isfinite(result["y"]).all() and torch.isfinite(result["grad"]).all()
    torch.testing.assert_close(result["y"], torch.nn.functional.softplus(result["x"]))
    torch.testing.assert_close(result["grad"], torch.sigmoid(result["x"]))
    torch.testing.assert_close(result["grad"], result["reference_grad"])
    assert result["grad"][-1].item() == 1.0                # the NaN of the naive version is gone
    assert result["gradcheck"] and result["gradgradcheck"]


# 2. RMSE

def test_naive_rmse_gradient_is_nan_at_zero_and_poisons_a_step():
    result = page.rmse_naive()
    assert result["rmse"] == 0.0
    assert result["grad"].isnan().all() and result["after_step"].isnan().all()


def test_rmse_function_gives_zero_at_zero_and_autograds_gradient_elsewhere():
    result = page.rmse_fixed()
    assert torch.equal(result["at_zero"], torch.zeros(3))
    assert torch.equal(result["norm_at_zero"], torch.zeros(3))
    torch.testing.assert_close(result["away"], result["plain"])
    assert result["gradcheck"]


def test_epsilon_rmse_floors_the_value_and_fades_the_gradient():
    result = page.rmse_epsilon()
    eps, n = result["eps"], result["n"]
    by_scale = {row[0]: row[1:] for row in result["rows"]}
    for scale, (exact, smoothed, exact_norm, smooth_norm) in by_scale.items():
        assert smoothed >= math.sqrt(eps) * (1 - 1e-6)
        assert not math.isnan(exact_norm) and not math.isnan(smooth_norm)
        if scale > 0:
            assert math.isclose(exact_norm, 1 / math.sqrt(n), rel_tol=1e-5)
    assert by_scale[0.0] == (0.0, by_scale[0.0][1], 0.0, 0.0)
    assert math.isclose(by_scale[1.0][3], 1 / math.sqrt(n), rel_tol=1e-5)    # large errors: unchanged
    assert by_scale[1e-6][3] < 0.02 * by_scale[1e-6][2]                     # tiny errors: faded


# 3. clipping

def test_plain_descent_on_w4_explodes():
    history = page.clipping_explodes()["history"]
    assert abs(history[1]) > abs(history[0]) and abs(history[3]) > 1e6
    assert math.isnan(history[-1])


def test_clipped_descent_moves_at_most_lr_times_limit_and_converges():
    history = page.clipping_tamed()["history"]
    steps = [abs(b - a) for a, b in zip(history, history[1:])]
    assert max(steps) <= 0.1 + 1e-6
    assert all(0 < b < a for a, b in zip(history, history[1:]))            # monotone, no overshoot
    assert history[-1] < 0.2


def test_gradcheck_cannot_see_a_clip_at_one():
    assert page.clipping_gradcheck()["verdicts"] == {1.0: True, 0.5: False}


def test_a_hook_on_w_clips_the_same_descent_and_the_sum_of_two_uses():
    hooked = page.clipping_with_a_hook()
    assert hooked["history"] == page.clipping_tamed()["history"]
    # the Function clips the 108 of w**4 and passes the 10 of 10*w; the hook clips 118
    assert hooked["function_grad"] == 1.0 + 10.0
    assert hooked["hook_grad"] == 1.0


# 4. straight-through estimator

def test_round_has_zero_gradient():
    result = page.round_gradient()
    assert torch.equal(result["grad"], torch.zeros(4))
    assert result["rounded"].tolist() == [0.0, 2.0, 2.0, -1.0]


def test_ste_passes_the_gradient_through_like_the_detach_idiom():
    result = page.ste_gradient()
    assert torch.equal(result["ste_grad"], torch.ones(4))
    assert torch.equal(result["idiom_grad"], result["ste_grad"])
    assert torch.equal(result["idiom_value"], result["ste_value"])


def test_only_the_ste_learns_the_integer_weights():
    result = page.ste_training()
    stuck, _ = result["results"]["torch.round"]
    learned, weights = result["results"]["RoundSTE"]
    assert len(set(stuck)) == 1                                   # the loss never moved
    assert learned[-1] == 0.0 and learned[-1] < stuck[-1]
    assert torch.equal(weights, result["true_weights"])
    stored = result["stored"]                       # "even though the stored weights are not"
    assert torch.equal(stored.round(), weights) and not torch.equal(stored, weights)


# 5. finite differences against the complex step

def test_complex_step_is_exact_and_central_differences_have_an_optimum():
    result = page.complex_step_reference()
    torch.testing.assert_close(result["complex"], result["by_hand"], rtol=0, atol=1e-15)
    central = {step: errors[0] for step, errors in result["errors"].items()}
    complex_errors = {step: errors[1] for step, errors in result["errors"].items()}
    best = min(central, key=central.get)
    assert 1e-7 <= best <= 1e-3 and central[best] < 1e-8
    assert central[1e-20] > 1                                     # w + h == w: no slope seen
    assert complex_errors[1e-7] >= 1e-15                          # still printed as a number
    assert complex_errors[1e-9] < 1e-15 and complex_errors[1e-20] < 1e-15   # the bound shown
    assert complex_errors[1e-20] < complex_errors[1e-7] < complex_errors[1e-5]  # keeps improving


def test_finite_difference_backward_agrees_with_the_complex_step():
    result = page.finite_difference_validated()
    assert result["gradcheck"]
    assert (result["grad"] - result["reference"]).abs().max() < 1e-8


def test_gradcheck_passes_the_bad_step_and_fails_the_good_one():
    outcome = page.gradcheck_is_circular()["outcome"]
    (bad_passed, bad_error), (good_passed, good_error) = outcome[1e-6], outcome[5e-3]
    assert bad_passed and not good_passed
    assert bad_error > 1e-2 and good_error < 1e-3 and good_error < bad_error / 100


def test_complex_step_helper_on_a_polynomial():
    w = torch.tensor([0.5, -2.0], dtype=torch.float64)
    grad = page.complex_step_gradient(lambda w: (w ** 2 * w[0]).sum(), w)
    by_autograd = torch.func.grad(lambda w: (w ** 2 * w[0]).sum())(w)
    torch.testing.assert_close(grad, by_autograd, rtol=0, atol=1e-15)


# 6. SPSA

def test_spsa_uses_two_evaluations_per_gradient_and_converges():
    result = page.spsa_versus_differences()
    assert result["per_gradient"] == {"SPSA": {2}, "forward differences": {20}}
    spsa = result["curves"]["SPSA"]
    assert spsa[-1][1] < spsa[0][1] / 1e4
    assert [e for e, _ in spsa] == [3 * (k + 1) for k in range(len(spsa))]  # 1 forward + 2 backward
    differences = result["curves"]["forward differences"]
    assert abs(differences[-1][0] - spsa[-1][0]) <= 21                       # a comparable budget
    assert differences[-1][1] < spsa[-1][1] / 1000          # differences get further here


def test_spsa_makes_progress_where_forward_differences_cannot_start():
    result = page.spsa_many_weights()
    assert result["n"] + 1 > result["budget"] >= result["evaluations"]
    assert len(result["losses"]) == result["evaluations"] // 3
    assert result["losses"][-1] < 0.9 * result["losses"][0]


# --- no Function the site defines keeps its graph alive ---------------------------------------


def _x(*shape):
    return torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


# How to call each Function the pages define; a new Function needs an entry here.
CALLS = {
    "custom_function.ScaledTanh": lambda F: F.apply(_x(3).requires_grad_()),
    "custom_function.RepeatActivation": lambda F: F.apply(_x(3).requires_grad_(), 2, "tanh"),
    "custom_function.SinCos": lambda F: F.apply(_x(3).requires_grad_()),
    "custom_function.ScaledTanhWrongBackward": lambda F: F.apply(_x(3).requires_grad_()),
    "custom_function.ScaledTanhModern": lambda F: F.apply(_x(3).requires_grad_(), torch.tensor(4.0)),
    "custom_function.NumpyScaledTanh": lambda F: F.apply(_x(3).requires_grad_()),
    "custom_function.MaxWithIndex": lambda F: F.apply(_x(2, 3).requires_grad_()),
    "derivative_recipes.StableSoftplus": lambda F: F.apply(_x(3).requires_grad_()),
    "derivative_recipes.RMSE": lambda F: F.apply(_x(3).requires_grad_(), _x(3)),
    "derivative_recipes.ClipGradient": lambda F: F.apply(_x(3).requires_grad_(), 1.0),
    "derivative_recipes.RoundSTE": lambda F: F.apply(_x(3).requires_grad_()),
    "derivative_recipes.CentralDifference":
        lambda F: F.apply(page.simulator, _x(3).requires_grad_(), 1e-6),
    "derivative_recipes.SPSA": lambda F: F.apply(page.Bowl(3), _x(3).requires_grad_(), 0.01),
    "derivative_recipes.ForwardDifference":
        lambda F: F.apply(page.Bowl(3), _x(3).requires_grad_(), 1e-6),
    "derivative_recipes.FixedPoint": lambda F: F.apply(_x(4).requires_grad_(), 0.1 * _x(4, 4)),
    "forward_mode.Swish": lambda F: F.apply(_x(3).requires_grad_()),
    "finite_differences.ForwardDifference":
        lambda F: F.apply(lambda x, w: 2 * x * w[0] + x**2 * w[1], _x(4), _x(2).requires_grad_()),
    "finite_differences.FiniteDifferences":
        lambda F: F.apply(lambda x, w: 2 * x * w[0] + x**2 * w[1], _x(4), _x(2).requires_grad_()),
}


def _site_functions():
    """Every autograd.Function subclass defined in a page module, found by inspection."""
    found = {}
    for name in page_modules():
        module = importlib.import_module(f"snippets.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, torch.autograd.Function) and cls.__module__ == module.__name__:
                found[f"{name}.{cls_name}"] = cls
    return found


def _graph_outlives_its_output(call, function):
    """Run the Function, drop every reference to its result, and say whether the node survived.

    Reference counting alone frees an acyclic graph at once; automatic collection is switched off,
    so a node kept by a reference cycle stays alive."""
    gc.disable()
    try:
        out = call(function)
        first = out[0] if isinstance(out, tuple) else out
        node = weakref.ref(first.grad_fn)
        del out, first
        return node() is not None
    finally:
        gc.enable()


class _LeakyIdentity(torch.autograd.Function):
    """What the rule forbids: the output on the ctx of its own grad_fn."""

    @staticmethod
    def forward(ctx, x):
        y = x * 1
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y


def test_the_leak_detector_sees_an_output_kept_on_ctx():
    assert _graph_outlives_its_output(lambda F: F.apply(_x(3).requires_grad_()), _LeakyIdentity)
    gc.collect()                                      # the cycle it made, cleaned up


def test_every_function_of_the_site_is_called_here():
    assert sorted(_site_functions()) == sorted(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_function_keeps_its_graph_alive_after_the_last_reference_goes(name):
    assert not _graph_outlives_its_output(CALLS[name], _site_functions()[name])


def test_implicit_gradient_solves_the_fixed_point_and_matches_the_unrolled_one():
    result = page.implicit_gradient()
    x, W, z = result["x"].detach(), result["W"].detach(), result["z"]
    torch.testing.assert_close(z, torch.tanh(W @ z + x), rtol=0, atol=1e-12)
    implicit_x, implicit_W = result["implicit"]
    unrolled_x, unrolled_W = result["unrolled"]
    torch.testing.assert_close(implicit_x, unrolled_x, rtol=0, atol=1e-10)
    torch.testing.assert_close(implicit_W, unrolled_W, rtol=0, atol=1e-10)
    # the adjoint formula, written out independently: dL/dx = J_x^T (I - J_z)^-T g
    s = 1 - z**2
    J_z = s[:, None] * W
    u = torch.linalg.solve((torch.eye(4, dtype=z.dtype) - J_z).T, 2 * z)
    torch.testing.assert_close(implicit_x, s * u)
    assert torch.autograd.gradcheck(page.FixedPoint.apply,
                                    (x.clone().requires_grad_(), W.clone().requires_grad_()))


def test_a_truncated_unrolled_solver_has_a_different_gradient():
    result = page.implicit_gradient()
    x = result["x"].detach().clone().requires_grad_()
    W = result["W"].detach()
    z = torch.zeros(4, dtype=torch.float64)
    for _ in range(2):
        z = torch.tanh(W @ z + x)
    (z**2).sum().backward()
    assert (x.grad - result["implicit"][0]).abs().max() > 1e-3


def test_fixed_point_refuses_a_second_derivative():
    import pytest

    result = page.implicit_gradient()
    x = result["x"].detach().clone().requires_grad_()
    z = page.FixedPoint.apply(x, result["W"].detach())
    (grad,) = torch.autograd.grad((z**2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()
