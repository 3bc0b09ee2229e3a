"""The truths each example of "torch.autograd.grad" must show, on its real result."""

import torch
from torch.testing import assert_close

from snippets import autograd_grad as page


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
