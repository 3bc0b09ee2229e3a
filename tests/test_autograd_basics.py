"""The truths each example of "How autograd works" must show, on its real result."""

import torch
from torch import nn

from snippets import autograd_basics as page


def test_training_step_lowers_the_loss_and_fills_every_gradient():
    result = page.training_step()
    assert result["loss_after"] < result["loss_before"]
    assert all(p.grad is not None for p in result["model"].parameters())
    assert result["with_grad"] == [True] * 6         # the printed "6 of 6"


def test_classifier_bias_gradient_is_softmax_minus_one_at_the_label():
    result = page.training_step()
    scores, label = result["scores"], result["label"]
    expected = scores.softmax(dim=1)[0] - nn.functional.one_hot(label, 10)[0]
    grad = result["model"].classifier.bias.grad
    torch.testing.assert_close(grad, expected)
    assert (grad < 0).nonzero().flatten().tolist() == [label.item()]


def test_gradients_by_hand_match_the_formulas():
    result = page.gradients_by_hand()
    a, b = result["a"], result["b"]
    assert torch.equal(a.grad, 9 * a.detach() ** 2)
    assert torch.equal(b.grad, -2 * b.detach())


def test_backward_of_a_vector_asks_for_a_weighting():
    assert "only for scalar outputs" in page.sum_backward()["message"]


def test_sum_backward_gives_the_same_gradients():
    summed, weighted = page.sum_backward(), page.gradients_by_hand()
    assert torch.equal(summed["a"].grad, weighted["a"].grad)
    assert torch.equal(summed["b"].grad, weighted["b"].grad)


def test_backward_computes_the_vector_jacobian_product():
    result = page.jacobian_vjp()
    J, v, x = result["J"], result["v"], result["x"]
    x1, x2 = x.detach()
    exact = torch.tensor([[x2, x1], [2 * x1, torch.cos(x2)], [0.0, 3.0]])
    torch.testing.assert_close(J, exact)
    torch.testing.assert_close(x.grad, J.T @ v)


def test_graph_walk_ends_at_the_leaf():
    result = page.graph_walk()
    assert result["w"].is_leaf and not result["loss"].is_leaf
    assert result["accumulate"].variable is result["w"]


def test_the_walk_has_no_node_for_the_constant_x():
    loss = page.graph_walk()["loss"]
    names, node = [], loss.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        parents = [parent for parent, _ in node.next_functions if parent is not None]
        assert len(parents) <= 1
        node = parents[0] if parents else None
    assert names == ["SumBackward0", "ExpBackward0", "MulBackward0", "AccumulateGrad"]
    # the multiplication's second input, x, has no node
    mul = loss.grad_fn.next_functions[0][0].next_functions[0][0]
    assert [parent is None for parent, _ in mul.next_functions] == [False, True]


def test_dynamic_graph_derivative_is_two_to_the_number_of_doublings():
    result = page.dynamic_graph()
    assert result["last_grad"].item() == 2.0 ** result["last_steps"]
    # the length of the graph depends on the input value
    assert result["doublings"] == {1.0: 7, 10.0: 4}


def test_requires_grad_propagates_from_any_input():
    result = page.requires_grad_propagation()
    assert result == {"x_plus_y": False, "x_plus_z": True}


def test_chain_rule_stops_where_backward_starts():
    result = page.chain_rule()
    assert result["dy_dx"].item() == 3.0
    # the first x, reached through z's graph: dz/dx = 5 * 3
    first_x = result["z"].grad_fn.next_functions[0][0].next_functions[0][0].variable
    assert first_x.grad.item() == 15.0


def test_gradients_accumulate_by_the_same_amount():
    result = page.accumulation()
    assert result["history"] == [12.0 * k for k in range(1, 5)]
    assert result["after_zero"] == 12.0


def test_frozen_weights_do_not_move_and_the_new_layer_does():
    result = page.freezing()
    model = result["model"]
    assert torch.equal(result["frozen_before"], model.features[0].weight)
    assert not torch.equal(result["new_before"], model.classifier.weight)
    assert all(not p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert all(p.grad is None for p in model.features.parameters())   # no gradient computed
    assert all(p.grad is not None for p in model.classifier.parameters())


def test_outside_the_graph_records_nothing():
    result = page.outside_the_graph()
    assert not result["scaled"].requires_grad
    assert not result["frozen"].requires_grad
    assert result["frozen"].data_ptr() == result["w"].data_ptr()
    assert result["served"].is_inference()
    # an inference tensor joins a recorded sum, which saves nothing for backward ...
    assert torch.equal(result["w_grad"], torch.ones(2))
    # ... and fails only where autograd must save it
    assert "cannot be saved for backward" in result["message"]


def test_graph_picture_of_q_is_the_recorded_graph():
    result = page.graph_picture_q()
    names, edges, depth = result["names"], result["edges"], result["depth"]
    assert names == ["SubBackward0", "MulBackward0", "PowBackward0", "PowBackward0",
                     "AccumulateGrad (b)", "AccumulateGrad (a)"]
    assert edges == [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5)]
    assert depth == [0, 1, 1, 2, 2, 3]
    # the nodes really are the graph's: the root is Q's grad_fn, the squares write into a and b
    Q, a, b = result["Q"], result["a"], result["b"]
    root = Q.grad_fn
    mul, pow_b = (node for node, _ in root.next_functions)
    assert pow_b.next_functions[0][0].variable is b
    assert mul.next_functions[0][0].next_functions[0][0].variable is a


def test_graph_picture_of_the_network_ends_in_one_square_per_parameter():
    result = page.graph_picture_network()
    names, edges, depth = result["names"], result["edges"], result["depth"]
    parameters = [name for name, _ in result["model"].named_parameters()]
    leaves = [n for n in names if n.startswith("AccumulateGrad")]
    assert sorted(leaves) == sorted(f"AccumulateGrad ({p})" for p in parameters)
    assert len(leaves) == 6
    assert names[0] == "NllLossBackward0" and names[1] == "LogSoftmaxBackward0"
    assert names[2] == "AddmmBackward0" and "TBackward0" in names   # bias + x W^T
    assert names.count("ConvolutionBackward0") == 2
    assert len(edges) == len(names) - 1            # a tree: every node but the root has one parent
    assert sorted(j for _, j in edges) == list(range(1, len(names)))
    assert all(depth[j] == depth[i] + 1 for i, j in edges)
    assert sum(1 for i, _ in edges if names[i].startswith("AccumulateGrad")) == 0


def test_drawing_plots_one_line_per_edge_and_one_marker_per_node():
    import matplotlib.pyplot as plt

    result = page.graph_picture_network()
    fig, ax = plt.subplots()
    page.draw_graph(ax, result["names"], result["edges"], result["depth"])
    assert len(ax.lines) == len(result["edges"])
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == len(result["names"])
    squares = len(ax.collections[1].get_offsets())
    assert squares == 6
    plt.close(fig)
