"""The truths each example of "Custom forward and backward" must show, on its real result."""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck
from torch.autograd.gradcheck import GradcheckError

from snippets import custom_function as page


def sech2(x):
    return 1 / torch.cosh(x) ** 2


def test_scaled_tanh_gradient_is_the_chain_rule_in_closed_form():
    result = page.scaled_tanh_gradient()
    x = result["x"]
    assert x.tolist() == [0.0, 4.0]
    x64 = torch.tensor([0.0, 4.0], dtype=torch.float64)
    y64 = 4 * torch.tanh(x64 / 4)
    exact = (2 * y64 * sech2(x64 / 4)).float()     # dL/dy * dy/dx with L = sum(y²), in float64
    torch.testing.assert_close(result["y"].detach(), y64.float())
    torch.testing.assert_close(x.grad, exact)
    torch.testing.assert_close(result["builtin_grad"], exact)
    torch.testing.assert_close(x.grad, result["builtin_grad"])
    torch.testing.assert_close(result["closed_form"], exact)
    assert x.grad[0].item() == 0.0


def test_plot_shows_the_function_and_its_exact_derivative():
    result = page.scaled_tanh_plot()
    x = result["x"]
    torch.testing.assert_close(result["y"], 4 * torch.tanh(x / 4))
    torch.testing.assert_close(result["dy_dx"], sech2(x / 4))
    assert result["dy_dx"].max().item() == pytest.approx(1.0)
    # largest at the origin, towards zero where the function levels off
    assert abs(x[result["dy_dx"].argmax()].item()) < 1e-6      # linspace's 0 is -1.8e-7
    assert result["dy_dx"][0].item() < 0.01 and result["dy_dx"][-1].item() < 0.01


def test_calling_the_class_computes_nothing_and_warns():
    result = page.apply_not_the_class()
    assert isinstance(result["not_a_result"], page.ScaledTanh)
    assert not isinstance(result["not_a_result"], torch.Tensor)
    assert result["caught"] and all(issubclass(c, DeprecationWarning) for c in result["caught"])
    assert "non-static forward method is deprecated" in result["message"]   # calling it fails


def test_repeat_activation_sums_the_copies_and_skips_the_non_tensors():
    result = page.repeat_activation_gradient()
    x = result["x"]
    s = torch.sigmoid(x.detach())
    assert result["y"].shape == (3, 3)
    torch.testing.assert_close(x.grad, (1 + 2 + 3) * s * (1 - s))
    # backward returns exactly one gradient per forward input, None for the int and the str
    fresh = page.RepeatActivation.apply(x.detach().requires_grad_(), 3, "sigmoid")
    ctx = fresh.grad_fn
    grads = page.RepeatActivation.backward(ctx, torch.ones(3, 3))
    assert len(grads) == 3 and grads[1] is None and grads[2] is None
    assert ctx.copies == 3 and ctx.activation == "sigmoid"


def test_sin_cos_gradient_combines_both_incoming_gradients():
    result = page.sin_cos_gradient()
    x, x2 = result["x"].detach(), result["x2"].detach()
    torch.testing.assert_close(result["x"].grad, 2 * torch.cos(x) - 3 * torch.sin(x))
    torch.testing.assert_close(result["x2"].grad, torch.cos(x2))
    assert torch.equal(result["into"]["sin"], torch.full((3,), 2.0))
    assert torch.equal(result["into"]["cos"], torch.full((3,), 3.0))


def _every_function():
    """Each Function the page defines, as a callable of float64 tensors, with the inputs
    to check it at, and whether it has a second derivative."""
    torch.manual_seed(1)
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    matrix = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    return {
        "ScaledTanh": (page.ScaledTanh.apply, (x,), True),
        "RepeatActivation tanh": (lambda t: page.RepeatActivation.apply(t, 4, "tanh"), (x,), True),
        "RepeatActivation sigmoid": (lambda t: page.RepeatActivation.apply(t, 1, "sigmoid"), (x,), True),
        "SinCos": (page.SinCos.apply, (x,), True),
        "ScaledTanhModern": (page.ScaledTanhModern.apply, (x, scale), True),
        "ScaledTanhModern, matrix": (page.ScaledTanhModern.apply, (matrix, scale), True),
        "NumpyScaledTanh": (page.NumpyScaledTanh.apply, (x,), False),
        "MaxWithIndex": (page.MaxWithIndex.apply, (matrix,), True),
    }


@pytest.mark.parametrize("name", list(_every_function()))
def test_gradcheck_passes_for_every_function_on_the_page(name):
    function, inputs, twice = _every_function()[name]
    assert gradcheck(function, inputs)
    if twice:
        assert gradgradcheck(function, inputs)
    else:
        assert not gradgradcheck(function, inputs, raise_exception=False)


def test_the_page_checks_every_function_it_defines():
    defined = {name for name, value in vars(page).items()
               if isinstance(value, type) and issubclass(value, torch.autograd.Function)
               and value.__module__ == page.__name__}
    checked = {name.split()[0].rstrip(",") for name in _every_function()}
    assert defined - checked == {"ScaledTanhWrongBackward"}


@pytest.mark.filterwarnings("ignore:Input #0 requires gradient and is not a double")
def test_page_gradcheck_examples_pass_and_float32_fails():
    verdicts = page.gradcheck_every_function()["verdicts"]
    assert len(verdicts) == 4 and all(v == (True, True) for v in verdicts.values())
    assert page.gradcheck_float32()["passed"] is False


def test_gradcheck_in_float32_warns():
    with pytest.warns(UserWarning, match="not a double precision"):
        page.gradcheck_float32()


def test_gradcheck_catches_the_wrong_backward():
    x = page.gradcheck_wrong_backward()["x"]
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(page.ScaledTanhWrongBackward.apply, (x,))
    # the bug is invisible at x = 0, where cosh is 1, and only there
    y = page.ScaledTanhWrongBackward.apply(x)
    (wrong,) = torch.autograd.grad(y.sum(), x)
    exact = sech2(x.detach() / 4)
    assert wrong[0] == exact[0]
    assert (wrong[1:] > exact[1:]).all()


def test_modern_form_skips_unwanted_gradients_and_matches_autograd():
    result = page.modern_needs_input_grad()
    torch.testing.assert_close(result["x"].grad, result["x_ref"].grad)
    torch.testing.assert_close(result["scale"].grad, result["scale_ref"].grad)
    x = torch.tensor([0.0, 4.0], requires_grad=True)
    y = page.ScaledTanhModern.apply(x, torch.tensor(4.0))
    assert y.grad_fn.needs_input_grad == (True, False)
    assert page.ScaledTanhModern.backward(y.grad_fn, torch.ones(2))[1] is None
    assert result["needs"] == (True, True)                 # with a learnable scale
    assert result["verdicts"] == (True, True)


def test_once_differentiable_gives_the_first_derivative_only():
    result = page.once_differentiable_second_derivative()
    x = result["x"].detach()
    torch.testing.assert_close(result["grad"], 2 * 4 * torch.tanh(x / 4) * sech2(x / 4))
    assert result["grad_fn"] == "Error"                    # the node that only raises
    assert "marked with @once_differentiable" in result["message"]
    assert result["verdicts"] == (True, False)


def test_generate_vmap_rule_on_numpy_code_raises():
    assert "doesn't have storage" in page.vmap_numpy_fails()["message"]


def test_indices_marked_non_differentiable():
    result = page.non_differentiable_indices()
    assert result["values"].requires_grad
    assert not result["indices"].requires_grad
    assert result["indices"].tolist() == [1, 0]
    torch.testing.assert_close(result["x"].grad, torch.tensor([[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]]))
    builtin = result["x"].detach().clone().requires_grad_()
    values, indices = builtin.max(dim=-1)
    assert not indices.requires_grad
    (values * torch.tensor([10.0, 20.0])).sum().backward()
    torch.testing.assert_close(result["x"].grad, builtin.grad)
    assert result["verdicts"] == (True, True)


def test_vmap_equals_the_loop():
    result = page.vmap_per_sample_gradients()
    torch.testing.assert_close(result["batched"], result["looped"])
    torch.testing.assert_close(result["grad_rows"], result["loop_rows"])
    torch.testing.assert_close(result["grad_scales"], result["loop_scales"])
    assert result["grad_scales"].shape == (4,)
    assert "must override the setup_context" in result["message"]   # ScaledTanh refused
