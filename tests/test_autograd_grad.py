"""The truths each example of "torch.autograd.grad" must show, on its real result."""

import pytest
import torch
from torch.testing import assert_close

from claims import claim
from reader import assert_first_use_warns_once_unless_filtered
from snippets import autograd_grad as page
from snippets.pipeline.downloads import section_code

SETUP = section_code("autograd_grad", "setup") + "\n"


def cubic_derivative(x):
    """d/dx (x³ + 2x² + 3x + 1)."""
    x = x.detach()
    return 3 * x**2 + 4 * x + 3


def test_first_derivative_is_3x2_plus_4x_plus_3():
    result = page.first_derivative()
    x = result["x"]
    assert x.shape == (100,) and x[0] == 0 and x[-1] == 1
    assert_close(result["dy_dx"], cubic_derivative(x))


def test_scaling_grad_outputs_by_two_doubles_the_derivative():
    result = page.scaled_grad_outputs()
    assert_close(result["plain"], cubic_derivative(result["x"]))
    assert_close(result["doubled"], 2 * result["plain"])
    assert_close(result["doubled"], 2 * cubic_derivative(result["x"]))


def test_several_outputs_add_and_grad_is_left_alone():
    result = page.outputs_and_inputs()
    x = result["x"].detach()
    assert_close(result["d_y_plus_z"], cubic_derivative(x) + 2 * x + 2)
    assert result["x_grad"] is None
    # q = a b² at a = 2, b = 3: dq/da = b², dq/db = 2ab
    assert result["da"].item() == 9.0 and result["db"].item() == 12.0


def test_second_call_without_retain_graph_raises_and_z_still_works():
    result = page.retain_graph()
    assert result["second_call_failed"] is True
    assert_close(result["dz_dx"], 2 * result["x"].detach() + 2)
    assert torch.equal(result["first"], result["again"])
    assert_close(result["first"], cubic_derivative(result["x"]))


def test_second_derivative_is_6x_plus_4_and_needs_create_graph():
    result = page.create_graph()
    assert result["differentiated_again"] is False
    assert_close(result["d2y_dx2"], 6 * result["x"].detach() + 4)


def test_allow_unused_gives_none_after_the_default_raised():
    result = page.allow_unused()
    assert result["unused_failed"] is True
    assert result["dy_dscale"] is None
    assert_close(result["dy_dx"], cubic_derivative(result["x"]))


def test_materialize_grads_gives_zeros_for_the_unused_input():
    result = page.materialize_grads()
    assert_close(result["d2y_dwdx"], 2 * result["x"].detach())
    assert isinstance(result["d2y_dw2"], torch.Tensor)
    assert result["d2y_dw2"].item() == 0.0
    assert_close(result["dy_dw"], (result["x"].detach() ** 2).sum())     # "= sum of x²"


def test_batched_grad_outputs_give_the_jacobian():
    result = page.is_grads_batched()
    v0, v1, v2 = result["v"].detach()
    exact = torch.tensor([[v1, v0, 0.0], [0.0, v2, v1], [2 * v0, 0.0, 1.0]])
    assert_close(result["jacobian"], exact)
    assert_close(result["jacobian_y"], torch.diag(result["dy_dx"]))


def test_partial_in_x_is_2xy_plus_2y3():
    result = page.partial_heat_maps()
    X, Y = result["X"].detach(), result["Y"].detach()
    assert X.shape == Y.shape == (10_000,)
    assert_close(result["dz_dX"], 2 * X * Y + 2 * Y**3)
    # the page: the difference panel's title says it is exactly zero, and it is
    assert (result["dz_dX"] - (2 * X * Y + 2 * Y**3)).abs().max().item() == 0.0


def test_grid_follows_xy_indexing():
    result = page.gradient_x_and_y()
    X, Y = result["X"].detach().reshape(100, 100), result["Y"].detach().reshape(100, 100)
    assert_close(X[0], torch.linspace(0, 1, 100))      # along a row, x varies
    assert_close(Y[:, 0], torch.linspace(2, 1, 100))   # down a column, y varies


def test_both_partials_match_their_formulas():
    result = page.gradient_x_and_y()
    X, Y = result["X"].detach(), result["Y"].detach()
    assert_close(result["dz_dX"], 2 * X * Y + 2 * Y**3)
    assert_close(result["dz_dY"], X**2 + 6 * X * Y**2)
    # first grid point (0, 2), last (1, 1)
    assert_close(result["dz_dX"][[0, -1]], torch.tensor([16.0, 4.0]))
    assert_close(result["dz_dY"][[0, -1]], torch.tensor([0.0, 7.0]))


def test_func_grad_gives_first_and_second_derivatives():
    result = page.func_grad()
    assert_close(result["df"], torch.tensor(3 * 0.25 + 4 * 0.5 + 3))
    assert_close(result["d2f"], torch.tensor(6 * 0.5 + 4.0))
    assert_close(result["df"], result["from_autograd"])


def test_vmap_grad_equals_autograd_grad():
    result = page.func_vmap()
    assert_close(result["df_each"], result["from_autograd"])
    assert_close(result["df_each"], cubic_derivative(result["x"]))
    both = page.gradient_x_and_y()
    assert_close(result["dz_dX"], both["dz_dX"])
    assert_close(result["dz_dY"], both["dz_dY"])


def test_per_sample_gradients_match_a_loop_and_sum_to_the_total():
    result = page.per_sample_gradients()
    assert result["each"].shape == (5, 2)
    assert_close(result["each"], result["looped"])
    assert_close(result["each"].sum(0), result["of_total"])


def test_jacrev_equals_batched_autograd_grad():
    result = page.func_jacrev()
    assert_close(result["jacobian"], result["batched"])
    assert_close(result["jacobian"], page.is_grads_batched()["jacobian"])


def test_hessian_matches_formula_and_autograd():
    result = page.func_hessian()
    x, y = result["p"]
    exact = torch.tensor([[2 * y, 2 * x + 6 * y**2], [2 * x + 6 * y**2, 12 * x * y]])
    assert_close(result["H"], exact)
    assert_close(result["exact"], exact)
    assert_close(result["H"], result["by_autograd"])


# --- claims of the prose that no example prints, checked directly ---------------------------

def _cubic_of_linspace():
    x = torch.linspace(0, 1, 100, requires_grad=True)
    return x, x**3 + 2 * x**2 + 3 * x + 1


def test_create_graph_also_retains_the_original_graph():
    x, y = _cubic_of_linspace()
    torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)
    (again,) = torch.autograd.grad(y, x, torch.ones_like(y))       # no "second time" error
    assert_close(again, cubic_derivative(x))


def test_the_unused_input_error_comes_after_the_graph_was_freed():
    x, y = _cubic_of_linspace()
    scale = torch.tensor(2.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        torch.autograd.grad(y, (x, scale), torch.ones_like(y))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        torch.autograd.grad(y, (x, scale), torch.ones_like(y), allow_unused=True)


def test_materialize_grads_with_allow_unused_false_is_a_value_error():
    x, y = _cubic_of_linspace()
    with pytest.raises(ValueError, match="allow_unused"):
        torch.autograd.grad(y, x, torch.ones_like(y), materialize_grads=True, allow_unused=False)


def test_the_heat_map_difference_is_below_the_colour_scale():
    result = page.partial_heat_maps()
    X, Y = result["X"].detach(), result["Y"].detach()
    assert (result["dz_dX"] - (2 * X * Y + 2 * Y**3)).abs().max() <= 1e-5


def test_a_dict_of_inputs_gives_a_dict_of_gradients_with_the_same_keys():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    grads = torch.autograd.grad(a * b**2, {"a": a, "b": b})
    assert isinstance(grads, dict) and list(grads) == ["a", "b"]
    assert (grads["a"].item(), grads["b"].item()) == (9.0, 12.0)


def test_complex_gradient_is_the_real_gradient_in_the_plane():
    import pytest

    result = page.complex_gradient()
    z, grad_z = result["z"], result["grad_z"]
    torch.testing.assert_close(grad_z, 2 * z)                     # dL/da + i dL/db for |z|²
    da_db = result["grad_pairs"]
    torch.testing.assert_close(grad_z, torch.view_as_complex(da_db))
    # twice the conjugate Wirtinger derivative dL/dz* = (dL/da + i dL/db) / 2, which is z for z z*
    wirtinger_conj = (da_db[:, 0] + 1j * da_db[:, 1]) / 2
    torch.testing.assert_close(wirtinger_conj, z)
    torch.testing.assert_close(grad_z, 2 * wirtinger_conj)
    assert result["L"] == pytest.approx(14.25)
    assert result["L_after"] < result["L"]
    assert result["L_after"] == pytest.approx(0.8**2 * 14.25)    # z - 0.2 z = 0.8 z


def test_complex_chain_rule_uses_the_conjugate_derivative():
    result = page.complex_chain_rule()
    z, target = result["z"], result["target"]
    w = z**2
    torch.testing.assert_close(result["grad_w"], 2 * (w - target))
    torch.testing.assert_close(result["grad_z"], (2 * z).conj() * 2 * (w - target))
    # not f'(z) itself: the unconjugated product differs here
    assert not torch.allclose(result["grad_z"], 2 * z * 2 * (w - target))
    # and the same as the real gradient of L over (a, b), by finite differences
    def loss(pairs):
        zc = torch.view_as_complex(pairs)
        return ((zc**2 - target).abs() ** 2).sum()
    pairs = torch.view_as_real(z).clone()
    h = 1e-6
    numeric = torch.zeros_like(pairs)
    for index in range(pairs.numel()):
        step = torch.zeros(pairs.numel(), dtype=pairs.dtype)
        step[index] = h
        step = step.view_as(pairs)
        numeric.view(-1)[index] = (loss(pairs + step) - loss(pairs - step)) / (2 * h)
    torch.testing.assert_close(torch.view_as_complex(numeric), result["grad_z"],
                               rtol=1e-6, atol=1e-6)




@claim("autograd-grad.md", "The filter is for torch 2.14, which deprecates `torch.jit.script` and then calls it itself",
       "that first use prints")
@claim("autograd-grad.ja.md", "フィルタは torch 2.14 のためのものです。",
       "その最初の使用時に `FutureWarning: torch.jit.script is deprecated` が出力されます")
def test_torch_2_14_warns_on_the_first_forward_mode_use_unless_the_setup_filters_it():
    """hessian (jacfwd of jacrev) warns once in torch 2.14."""
    first_use = "import torch\nfrom torch.func import hessian\nhessian(lambda x: (x ** 3).sum())(torch.ones(2))\nhessian(lambda x: x.sin().sum())(torch.ones(2))\n"
    assert_first_use_warns_once_unless_filtered(SETUP, first_use)
