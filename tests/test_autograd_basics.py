"""The truths each example of "How autograd works" must show, on its real result."""

import torch
from torch import nn

from claims import claim
from snippets import autograd_basics as page


@claim("autograd-basics.md", 'The loss went down after a single step, and all six parameter tensors')
@claim("autograd-basics.ja.md", '1 ステップで損失が下がり、6 つのパラメータテンソル')
def test_training_step_lowers_the_loss_and_fills_every_gradient():
    result = page.training_step()
    assert result["loss_after"] < result["loss_before"]
    assert all(p.grad is not None for p in result["model"].parameters())
    assert result["with_grad"] == [True] * 6         # the printed "6 of 6"


@claim("autograd-basics.md", 'The bias gradient of the classifier is the softmax probability of each class, minus one for the true class')
@claim("autograd-basics.ja.md", '分類器のバイアスの勾配は、各クラスの softmax 確率から、正解クラスについてだけ 1 を引いたものです')
def test_classifier_bias_gradient_is_softmax_minus_one_at_the_label():
    result = page.training_step()
    scores, label = result["scores"], result["label"]
    expected = scores.softmax(dim=1)[0] - nn.functional.one_hot(label, 10)[0]
    grad = result["model"].classifier.bias.grad
    torch.testing.assert_close(grad, expected)
    assert (grad < 0).nonzero().flatten().tolist() == [label.item()]


@claim("autograd-basics.md", 'Autograd finds the same numbers')
@claim("autograd-basics.ja.md", 'autograd も同じ値を求めます。')
def test_gradients_by_hand_match_the_formulas():
    result = page.gradients_by_hand()
    a, b = result["a"], result["b"]
    assert torch.equal(a.grad, 9 * a.detach() ** 2)
    assert torch.equal(b.grad, -2 * b.detach())


@claim("autograd-basics.md", "`backward` needs to be told how to weigh them")
@claim("autograd-basics.ja.md", "`backward` には、それらをどう重み付けするかを教える必要があり")
def test_backward_of_a_vector_asks_for_a_weighting():
    assert "only for scalar outputs" in page.sum_backward()["message"]


@claim("autograd-basics.md", 'A vector of ones weighs each element equally, which is exactly what `Q.sum().backward()` does')
@claim("autograd-basics.ja.md", 'すべて 1 のベクトルを渡せば各要素を等しく重み付けすることになり、これは `Q.sum().backward()` とまったく同じです')
def test_sum_backward_gives_the_same_gradients():
    summed, weighted = page.sum_backward(), page.gradients_by_hand()
    assert torch.equal(summed["a"].grad, weighted["a"].grad)
    assert torch.equal(summed["b"].grad, weighted["b"].grad)


@claim("autograd-basics.md", '`y.backward(v)` computes exactly \\(J^{\\top}\\vec{v}\\), the vector-Jacobian product')
@claim("autograd-basics.ja.md", '`y.backward(v)` が計算するのはまさにこの \\(J^{\\top}\\vec{v}\\)、つまりベクトル・ヤコビ積')
def test_backward_computes_the_vector_jacobian_product():
    result = page.jacobian_vjp()
    J, v, x = result["J"], result["v"], result["x"]
    x1, x2 = x.detach()
    exact = torch.tensor([[x2, x1], [2 * x1, torch.cos(x2)], [0.0, 3.0]])
    torch.testing.assert_close(J, exact)
    torch.testing.assert_close(x.grad, J.T @ v)


@claim("autograd-basics.md", 'Walking them from the root reaches an `AccumulateGrad` node for each leaf: that node is what writes into `.grad`.')
@claim("autograd-basics.ja.md", '葉ごとに `AccumulateGrad` ノードに行き着きます。`.grad` に書き込むのはこのノードです。')
def test_graph_walk_ends_at_the_leaf():
    result = page.graph_walk()
    assert result["w"].is_leaf and not result["loss"].is_leaf
    assert result["accumulate"].variable is result["w"]
    assert result["w"].grad is None
    result["loss"].backward()
    assert result["w"].grad is not None            # written by that node


@claim("autograd-basics.md", '`x` does not appear: it does not require a gradient, so no node is recorded for it.')
@claim("autograd-basics.ja.md", '`x` は出てきません。勾配を必要としないので、ノードが記録されないからです。')
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


@claim("autograd-basics.md", 'here the number of doublings, and so the length of the graph, depends on the input value')
@claim("autograd-basics.ja.md", '2 倍する回数、つまりグラフの長さが入力の値で決まります')
def test_dynamic_graph_derivative_is_two_to_the_number_of_doublings():
    result = page.dynamic_graph()
    assert result["last_grad"].item() == 2.0 ** result["last_steps"]
    # the length of the graph depends on the input value
    assert result["doublings"] == {1.0: 7, 10.0: 4}


@claim("autograd-basics.md", 'An operation is recorded if any of its inputs requires a gradient, and its result then requires one too. If none does, nothing is recorded')
@claim("autograd-basics.ja.md", '演算は、入力のどれか 1 つでも勾配を必要とすれば記録され、その結果も勾配を必要とするテンソルになります。どの入力も必要としなければ、何も記録されません。')
def test_requires_grad_propagates_from_any_input():
    result = page.requires_grad_propagation()
    assert result == {"x_plus_y": False, "x_plus_z": True}
    x, z = torch.rand(2), torch.rand(2, requires_grad=True)
    assert (x + x).grad_fn is None and (x + z).grad_fn is not None


@claim("autograd-basics.md", 'Calling `backward()` on `y` instead stops one link earlier')
@claim("autograd-basics.ja.md", '代わりに `y` に対して `backward()` を呼ぶと、連鎖が 1 つ手前で止まります。')
def test_chain_rule_stops_where_backward_starts():
    result = page.chain_rule()
    assert result["dy_dx"].item() == 3.0
    # the first x, reached through z's graph: dz/dx = 5 * 3
    first_x = result["z"].grad_fn.next_functions[0][0].next_functions[0][0].variable
    assert first_x.grad.item() == 15.0


@claim("autograd-basics.md", '`backward()` does not overwrite `.grad`, it adds to it.')
@claim("autograd-basics.ja.md", '`backward()` は `.grad` を上書きせず、足し込みます。')
def test_gradients_accumulate_by_the_same_amount():
    result = page.accumulation()
    assert result["history"] == [12.0 * k for k in range(1, 5)]
    assert result["after_zero"] == 12.0


@claim("autograd-basics.md", "Since PyTorch 2.0 it does so by setting `.grad` to `None` (its "
       "`set_to_none=True` default), not by filling it with zeros",
       "an optimizer skips a parameter whose `.grad` is `None`, where a gradient of zeros would still "
       "let momentum move it")
@claim("autograd-basics.ja.md", "PyTorch 2.0 以降、これは `.grad` をゼロで埋めるのではなく、`None` にします"
       "（デフォルトの `set_to_none=True`）",
       "オプティマイザは `.grad` が `None` のパラメータを飛ばします。ゼロの勾配なら、モーメンタムがその"
       "パラメータを動かしてしまいます。")
def test_zero_grad_sets_the_gradient_to_none_and_a_step_then_skips_the_parameter(capsys):
    page.accumulation()
    lines = capsys.readouterr().out.splitlines()
    assert lines[4:] == ["after optimizer.zero_grad(): x.grad = None",
                         "after one more call: x.grad = 12.0"]
    moved = {}
    for set_to_none in (True, False):
        x = torch.tensor(2.0, requires_grad=True)
        optimizer = torch.optim.SGD([x], lr=0.1, momentum=0.9)
        (3 * x**2).backward()
        optimizer.step()                           # builds a momentum buffer
        before = x.item()
        optimizer.zero_grad(set_to_none=set_to_none)
        assert (x.grad is None) == set_to_none
        optimizer.step()
        moved[set_to_none] = x.item() != before
    assert moved == {True: False, False: True}
    x = torch.tensor(1.0, requires_grad=True)
    x.grad = torch.tensor(5.0)
    torch.optim.SGD([x], lr=0.1).zero_grad()       # the default
    assert x.grad is None


@claim("autograd-basics.md", 'autograd records nothing for them, computes no gradient and the optimizer leaves them alone', 'A layer created afterwards is trainable by default')
@claim("autograd-basics.ja.md", 'autograd はそれらについて何も記録せず、勾配も計算せず、オプティマイザも触りません。', 'あとから作った層はデフォルトで学習対象になり')
def test_frozen_weights_do_not_move_and_the_new_layer_does():
    result = page.freezing()
    model = result["model"]
    assert torch.equal(result["frozen_before"], model.features[0].weight)
    assert not torch.equal(result["new_before"], model.classifier.weight)
    assert all(not p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert all(p.grad is None for p in model.features.parameters())   # no gradient computed
    assert all(p.grad is not None for p in model.classifier.parameters())


@claim("autograd-basics.md", '`torch.no_grad()` is a block in which nothing is recorded', '`tensor.detach()` returns the same numbers, sharing memory, cut loose from the history')
@claim("autograd-basics.ja.md", '`torch.no_grad()` は、中では何も記録されないブロックです。', '`tensor.detach()` は、同じ数値をメモリを共有したまま、履歴から切り離して返します。')
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


@claim("autograd-basics.md", 'The multiplication by 3 records one input, since the constant needs no gradient')
@claim("autograd-basics.ja.md", '3 倍する掛け算が記録する入力は 1 つだけです。定数には勾配が要らないからです。')
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


@claim("autograd-basics.md", 'the cross-entropy is a log-softmax followed by a negative log likelihood; the linear classifier is one `addmm`', 'Every parameter of the model ends in its own `AccumulateGrad` square, six in all, and the image, which needs no gradient, has no node')
@claim("autograd-basics.ja.md", '交差エントロピーは log-softmax の後に負の対数尤度が続いたもので、線形の分類器は 1 つの `addmm`', 'モデルのパラメータはそれぞれ自分の `AccumulateGrad` の四角で終わり、全部で 6 つです。勾配を必要としない画像にはノードがありません。')
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


@claim("autograd-basics.md", "A tensor made under `torch.inference_mode()` can be an input of an operation recorded "
       "outside inference mode only when that operation does not save it for backward: `served + w` is "
       "recorded and differentiated, `served * w` raises.")
@claim("autograd-basics.ja.md", "`torch.inference_mode()` の下で作ったテンソルを、推論モードの外で記録される演算の"
       "入力にできるのは、その演算がそれを backward のために保存しない場合だけです：`served + w` は記録されて"
       "微分でき、`served * w` はエラーになります。")
def test_an_inference_tensor_joins_a_sum_but_cannot_be_saved(capsys):
    result = page.outside_the_graph()
    out = capsys.readouterr().out
    served, w = result["served"], result["w"]
    assert served.is_inference() and "inference tensor: True" in out
    assert (served + w).grad_fn is not None                        # recorded
    assert torch.equal(result["w_grad"], torch.ones(2))           # and differentiated
    assert "w.grad after (served + w).sum().backward(): tensor([1., 1.])" in out
    assert result["message"].startswith("Inference tensors cannot be saved for backward")
    assert "RuntimeError: Inference tensors cannot be saved for backward" in out


@claim("autograd-basics.md", "A clone of it, or a result of `no_grad`, can be saved.")
@claim("autograd-basics.ja.md", "clone したものや、`no_grad` の結果なら保存できます。")
def test_a_clone_of_an_inference_tensor_or_a_no_grad_result_can_be_saved():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.inference_mode():
        served = w * 2
    with torch.no_grad():
        scaled = w * 2
    for factor in (served.clone(), scaled):
        w.grad = None
        (factor * w).sum().backward()
        torch.testing.assert_close(w.grad, torch.tensor([2.0, 4.0]))


@claim("autograd-basics.md", "without ever building \\(J\\)")
@claim("autograd-basics.ja.md", "\\(J\\) そのものは一度も作りません")
def test_backward_of_a_million_outputs_keeps_no_jacobian():
    n = 1_000_000                    # its Jacobian would hold n² = 10¹² floats: 4 TB
    x = torch.ones(n, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        y = x.sin()
    y.backward(torch.ones(n))
    assert saved == [n]              # sin keeps its input, n numbers
    torch.testing.assert_close(x.grad, torch.cos(torch.ones(n)))
