"""The truths each recipe of "Recipes for your own derivative" must show, on its real result:
the naive version fails (NaN, explosion, zero gradient, unaffordable cost) and the fix does not."""

import math

import pytest
import torch
from claims import claim
from reader import older_torch_output

from snippets import derivative_recipes as page
from snippets.pipeline import versions


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


@claim("derivative-recipes.md", "up to torch 2.13 it returned 1 there")
@pytest.mark.parametrize("minor", ["2.12", "2.13"])
def test_torch_2_12_and_2_13_print_clamps_gradient_at_zero_as_1(minor):
    text = older_torch_output("derivative_recipes:softplus_stable_formula", minor)
    assert "clamp(min=0)  softplus = tensor([  0.6931, 100.0000]), d/dx = tensor([1., 1.])" in text


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


@claim("derivative-recipes.md", "Hessian of the `Function`, by autograd and by `torch.func`, against that of the formula")
def test_rmse_hessians_by_autograd_and_torch_func_equal_the_formulas():
    result = page.rmse_second_derivatives()
    torch.testing.assert_close(result["autograd"], result["formula"], rtol=0, atol=1e-12)
    torch.testing.assert_close(result["func"], result["formula"], rtol=0, atol=1e-12)
    error = result["prediction"] - result["target"]              # the Hessian written out
    n, rmse = error.numel(), error.norm() / error.numel() ** 0.5
    by_hand = (torch.eye(n, dtype=error.dtype) - torch.outer(error, error) / (n * rmse**2)) / (n * rmse)
    torch.testing.assert_close(result["formula"], by_hand)


class _RMSESavingTheError(torch.autograd.Function):
    """The recipe as it first stood: the error, computed in forward, saved for backward."""

    @staticmethod
    def forward(ctx, prediction, target):
        error = prediction - target
        value = torch.sqrt(torch.mean(error**2))
        ctx.save_for_backward(error, value)
        return value

    @staticmethod
    def backward(ctx, grad_output):
        error, value = ctx.saved_tensors
        d_prediction = grad_output * error / (error.numel() * value)
        return d_prediction, -d_prediction


@claim("derivative-recipes.md", "An error computed in `forward` and saved instead would be a constant to that second pass: the Hessian would come out wrong, with no error raised.")
def test_an_rmse_that_saves_its_error_gives_a_wrong_hessian_silently():
    result = page.rmse_second_derivatives()
    prediction = result["prediction"].clone().requires_grad_()
    (gradient,) = torch.autograd.grad(_RMSESavingTheError.apply(prediction, result["target"]),
                                      prediction, create_graph=True)
    hessian = torch.stack([torch.autograd.grad(gradient[i], prediction, retain_graph=True)[0]
                           for i in range(4)])                   # no error raised
    assert (hessian - result["formula"]).abs().max() > 0.01
    inputs = (prediction, result["target"].clone().requires_grad_())
    assert not torch.autograd.gradgradcheck(_RMSESavingTheError.apply, inputs, raise_exception=False)
    assert torch.autograd.gradgradcheck(page.RMSE.apply, inputs)


@claim("derivative-recipes.md", "`torch.func.hessian` runs forward mode over reverse mode, which needs a `jvp` rule that this `Function` does not define")
def test_torch_func_hessian_of_the_rmse_function_asks_for_a_jvp():
    result = page.rmse_second_derivatives()
    with pytest.raises(NotImplementedError, match="jvp"):
        torch.func.hessian(lambda p: page.RMSE.apply(p, result["target"]))(result["prediction"])


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


@claim("derivative-recipes.md", "The backward uses torch operations only, on an input and the output it saved, so it can be differentiated again.")
def test_fixed_point_second_derivative_matches_the_unrolled_solvers():
    result = page.implicit_gradient()
    x0, W = result["x"].detach(), result["W"].detach()

    def unrolled(x):
        z = torch.zeros(4, dtype=torch.float64)
        for _ in range(100):
            z = torch.tanh(W @ z + x)
        return (z**2).sum()

    x = x0.clone().requires_grad_()
    (gradient,) = torch.autograd.grad((page.FixedPoint.apply(x, W) ** 2).sum(), x, create_graph=True)
    implicit = torch.stack([torch.autograd.grad(gradient[i], x, retain_graph=True)[0] for i in range(4)])
    torch.testing.assert_close(implicit, torch.func.hessian(unrolled)(x0), rtol=0, atol=1e-10)
