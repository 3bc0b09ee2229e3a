"""The truths each example of "Forward and backward in a training loop" must show, on its real result."""

import math
from pathlib import Path

import pytest
import torch
from claims import claim
from reader import older_torch_output
from torch import nn

from snippets import training_loop as page

DATA = Path(page.__file__).parent / "data" / "iris.csv"
DOWNLOAD = Path(page.__file__).parent.parent / "docs" / "data" / "iris.csv"


@claim("training-loop.md", "a widely copied version of the table has two flowers wrong")
@claim("training-loop.ja.md", "広く出回っている版の表には 2 輪分の誤りがある")
def test_the_data_file_has_150_flowers_4_measurements_3_species_of_50():
    features, labels, species = page.load_iris(DATA)
    assert features.shape == (150, 4) and features.dtype == torch.float32
    assert species == ["setosa", "versicolor", "virginica"]
    assert labels.bincount().tolist() == [50, 50, 50]
    assert bool((features > 0).all()) and bool((features < 8).all())  # centimetres
    # Fisher's values, not the UCI copy's (which differs in flowers 35 and 38)
    assert features[34].tolist() == torch.tensor([4.9, 3.1, 1.5, 0.2]).tolist()
    assert features[37].tolist() == torch.tensor([4.9, 3.6, 1.4, 0.1]).tolist()


@claim("training-loop.md", "a test checks they are byte for byte the same")
@claim("training-loop.ja.md", "両者がバイト単位で同一であることはテストで確認しています")
def test_the_file_offered_for_download_is_the_one_the_examples_read():
    assert DOWNLOAD.read_bytes() == DATA.read_bytes()


def test_the_data_file_names_its_source_and_licence():
    head = DATA.read_text(encoding="utf-8").splitlines()[:4]
    assert all(line.startswith("#") for line in head)
    assert "Fisher" in " ".join(head) and "Public domain" in " ".join(head)


# --- the loop worth copying ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def copied():
    return page.loop_to_copy()


@claim("training-loop.md", "Both fall together,\nand the test accuracy reaches 98 %: 49 of the 50 held-out flowers are classified correctly",
       "This network has none, so here they change\n  nothing")
@claim("training-loop.ja.md", "両者はそろって下がり、テスト精度は 98 % に達します：取っておいた 50 輪のうち 49 輪を正しく分類できています",
       "このネットワークにはそうした層がないので、ここでは何も変わりません")
def test_the_loop_to_copy_classifies_at_least_90_percent_of_the_held_out_third(copied):
    result = copied
    assert result["n_test"] == 50
    assert result["right"] >= 0.9 * result["n_test"]
    assert result["right"] == 49                      # "49 of the 50", "98 %"
    history = result["history"]
    assert len(history) == 30
    assert history[-1][0] < history[0][0] / 5 and history[-1][1] < history[0][1] / 5
    assert not result["model"].training              # left in evaluation mode
    # "this network has none [dropout, batch norm], so here they change nothing"
    layers = (nn.Dropout, nn.BatchNorm1d)
    assert not any(isinstance(m, layers) for m in result["model"].modules())


@claim("training-loop.md", "the\n  batch order does not depend on how many random numbers the initial weights used",
       "give 10 parameter updates per pass over the data instead of one")
@claim("training-loop.ja.md", "バッチの順序は、初期の重みが乱数をいくつ使ったかに左右されません",
       "データを 1 巡する間のパラメータ更新が 1 回ではなく 10 回になり")
def test_the_loop_to_copy_uses_class_indices_seeded_mini_batches_and_the_same_test_flowers(copied):
    result = copied
    y = result["y_train"]
    assert y.dtype == torch.int64 and set(y.tolist()) == {0, 1, 2}
    batches = result["batches"]
    assert batches.batch_size == 10 and len(batches) == 10
    # the order is the generator's, whatever the global seed has been used for
    batches.generator.manual_seed(0)
    first = [yb.tolist() for _, yb in batches]
    torch.rand(1000)
    batches.generator.manual_seed(0)
    assert [yb.tolist() for _, yb in batches] == first
    assert first != [yb.tolist() for _, yb in batches]   # reshuffled every epoch
    # the held-out third is the case study's test part
    features, labels, _ = page.load_iris(DATA)
    assert torch.equal(features[result["test"]], page.split(features, labels, seed=0)[2])
    assert page.loop_to_copy()["history"] == result["history"]     # reproducible


@claim("training-loop.md", "Its gradient with respect to\n  a flower's scores is the softmax probabilities minus one at the true class (divided by the batch\n  size, as the loss is a mean)")
@claim("training-loop.ja.md", "ソフトマックス確率から正解クラスの成分だけ 1 を引いたもの（損失は平均なので、さらにバッチサイズで割ったもの）です")
def test_cross_entropy_gradient_is_softmax_minus_one_at_the_class_over_the_batch():
    scores = torch.randn(10, 3, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y = torch.arange(10) % 3
    nn.CrossEntropyLoss()(scores, y).backward()
    expected = (scores.detach().softmax(dim=1) - nn.functional.one_hot(y, 3)) / 10
    torch.testing.assert_close(scores.grad, expected)


def test_the_split_is_two_thirds_seeded_and_one_hot():
    features, labels, _ = page.load_iris(DATA)
    x_train, t_train, x_test, t_test = page.split(features, labels, seed=0)
    assert (len(x_train), len(x_test)) == (100, 50)
    assert torch.equal(t_train.sum(dim=1), torch.ones(100))
    again = page.split(features, labels, seed=0)
    assert torch.equal(again[0], x_train) and torch.equal(again[3], t_test)
    assert not torch.equal(page.split(features, labels, seed=1)[0], x_train)
    # every flower is in exactly one part: 50 of each species in all
    assert (t_train.sum(dim=0) + t_test.sum(dim=0)).tolist() == [50.0, 50.0, 50.0]


@claim("training-loop.md", "Both losses fall.")
@claim("training-loop.ja.md", "どちらの損失も下がります。")
def test_training_lowers_train_and_test_loss():
    result = page.training_loop()
    train, test = result["train_losses"], result["test_losses"]
    assert len(train) == len(test) == 50
    assert train[-1] < train[0] and test[-1] < test[0]
    assert all(later < earlier for earlier, later in zip(train, train[1:]))


def test_the_loop_is_the_network_of_the_brief():
    model = page.training_loop()["model"]
    assert [type(m) for m in model.children()] == [nn.Linear, nn.Linear]
    assert (model.hidden.in_features, model.hidden.out_features, model.output.out_features) == (4, 3, 3)


@claim("training-loop.md", "the loss is the same number at every step", "its norm\n  is the same at every step, and not zero",
       "Nothing fills `.grad`, which stays `None`, and `step()` skips every parameter",
       "the gradient norm climbs far above its first value, the loss falls faster than with all three calls,\n  overshoots, and swings back up")
@claim("training-loop.ja.md", "損失はどのステップでも同じ値です", "そのノルムはどのステップでも同じで、ゼロではありません",
       "`.grad` を埋めるものが何もないので `None` のままで、`step()` はすべてのパラメータを飛ばします",
       "勾配のノルムは最初の値をはるかに超えて増え、損失は 3 つの呼び出しをすべて行った場合より速く下がり、行き過ぎて、また上がってきます")
def test_each_call_left_out():
    runs = page.leave_one_out()["runs"]
    full, no_zero = runs["all three calls"], runs["without zero_grad()"]
    no_backward, no_step = runs["without backward()"], runs["without step()"]
    assert full[0][-1] < full[0][0]
    # without step() the weights never move: the loss is exactly the same at every step
    assert len(set(no_step[0])) == 1 and no_step[0][0] == full[0][0]
    # without backward() there are no gradients and step() has nothing to apply
    assert len(set(no_backward[0])) == 1 and set(no_backward[1]) == {0.0}
    assert len(set(no_step[1])) == 1 and no_step[1][0] > 0          # the same gradient, not zero
    # without zero_grad() the gradients pile up: the norm grows well past the first step's
    assert max(no_zero[1]) > 5 * no_zero[1][0]
    assert all(later > earlier for earlier, later in zip(no_zero[1][:8], no_zero[1][1:9]))
    assert no_zero[0] != full[0]
    # ... the loss falls faster than with all three calls, overshoots, and swings back up
    lowest = min(range(20), key=no_zero[0].__getitem__)          # the first trough
    assert no_zero[0][lowest] < min(full[0])
    assert max(no_zero[0][lowest:]) > no_zero[0][lowest] + 20


@claim("training-loop.md", "the sum of those\nis what `.grad` holds, to the last bit", "Forgetting `zero_grad()` therefore gives SGD with momentum 1")
@claim("training-loop.ja.md", "それらの和は、最後のビットまで `.grad` の中身と一致します", "`zero_grad()` を忘れると、モーメンタム 1 の SGD")
def test_without_zero_grad_grad_is_the_sum_of_every_steps_gradient():
    result = page.accumulated_gradients()
    assert result["gap"] == 0.0
    for p, total in zip(result["model"].parameters(), result["summed"]):
        torch.testing.assert_close(p.grad, total, rtol=0, atol=0)
    assert result["no_zero_losses"] == result["momentum_losses"]


def test_accumulation_checked_independently_of_the_example():
    """Recompute each step's gradient on a fresh copy of the weights, outside the model."""
    features, labels, _ = page.load_iris(DATA)
    x, t, _, _ = page.split(features, labels)
    torch.manual_seed(0)
    model = page.TwoLayerNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    per_step = []
    for _ in range(5):
        copy = page.TwoLayerNet()
        copy.load_state_dict(model.state_dict())
        nn.MSELoss(reduction="sum")(copy(x), t).backward()
        per_step.append([p.grad.clone() for p in copy.parameters()])
        nn.MSELoss(reduction="sum")(model(x), t).backward()
        optimizer.step()
    for i, p in enumerate(model.parameters()):
        torch.testing.assert_close(p.grad, sum(step[i] for step in per_step))


@claim("training-loop.md", "this is the case for all three hidden units from the start", "Only the output bias \\(b_2\\)\nlearns",
       "The output above shows the bias arriving at \\(p\\) and the loss at this floor",
       "only three of this network's numbers are learning at all")
@claim("training-loop.ja.md", "3 つの隠れユニットのすべてが最初からこの状態です", "学習するのは出力バイアス \\(b_2\\) だけです",
       "バイアスが \\(p\\) に、損失がこの下限に達しています", "実際に学習しているのは 3 つだけです")
def test_dead_units_get_no_gradient_and_the_loss_stops_at_the_class_frequencies():
    result = page.dead_units()
    model, p, n = result["model"], result["p"], result["n"]
    assert torch.equal(result["active"], torch.zeros(3))
    assert torch.equal(model.hidden.weight.grad, torch.zeros(3, 4))
    assert torch.equal(model.hidden.bias.grad, torch.zeros(3))
    assert torch.equal(model.output.weight.grad, torch.zeros(3, 3))  # only the 3 output biases move
    torch.testing.assert_close(model.output.bias.detach(), p, atol=1e-4, rtol=0)
    assert math.isclose(result["losses"][-1], n * (1 - (p**2).sum().item()), rel_tol=1e-5)


@claim("training-loop.md", "on standardized\nones the three units are alive and the loss goes far below it", "47 of the 50 test flowers against 14")
@claim("training-loop.ja.md", "標準化した計測値では 3 つのユニットが生きていて、損失はこの下限をはるかに下回ります", "テスト用の 50 輪のうち正解は 47 輪で、生の計測値では 14 輪でした")
@claim("training-loop.md", "reaches 49 in 30 epochs of 10 mini-batch steps")
@claim("training-loop.ja.md", "10 ミニバッチステップのエポックを 30 回回すだけで 49 輪に届きます")
def test_standardized_inputs_keep_the_units_alive_and_classify():
    result = page.standardized_inputs()
    raw, standard = result["results"]["raw measurements"], result["results"]["standardized"]
    assert raw["active"] == 0 and standard["active"] == 3
    assert standard["losses"][-1] < raw["losses"][-1] / 2
    assert standard["correct"] >= 0.9 * result["n_test"]
    assert (raw["correct"], standard["correct"]) == (14, 47)      # as the page says
    copied = page.loop_to_copy()
    assert copied["right"] == 49 and len(copied["history"]) == 30 and len(copied["batches"]) == 10


def test_standardize_uses_only_the_training_statistics():
    train, test = page.standardize(torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0]]))
    assert test.item() == 0.0 and math.isclose(train.std().item(), 1.0, rel_tol=1e-6)


def test_rmse_training_lowers_the_loss():
    result = page.rmse_training()
    train, test = result["train_losses"], result["test_losses"]
    assert train[-1] < 0.6 * train[0] and test[-1] < 0.6 * test[0]
    assert result["correct"] >= 40


def test_rmse_loss_is_the_square_root_of_mse_plus_eps():
    prediction, target = torch.tensor([[0.2, 0.5, 0.1]]), torch.tensor([[0.0, 1.0, 0.0]])
    mse = nn.functional.mse_loss(prediction, target)
    torch.testing.assert_close(page.RMSELoss(eps=0.0)(prediction, target), mse.sqrt())
    torch.testing.assert_close(page.RMSELoss()(prediction, target), (mse + 1e-8).sqrt())


@claim("training-loop.md", "the loss\ncan no longer go below \\(\\sqrt{\\varepsilon}\\)")
@claim("training-loop.ja.md", "損失は \\(\\sqrt{\\varepsilon}\\) より下には行けなくなります")
def test_rmse_with_eps_cannot_go_below_sqrt_eps():
    target = torch.tensor([[0.0, 1.0, 0.0]])
    assert math.isclose(page.RMSELoss(eps=1e-8)(target, target).item(), 1e-4, rel_tol=1e-6)


@claim("training-loop.md", "infinity times zero is not a number (NaN)", "With\n\\(\\varepsilon\\) the gradient at a perfect fit is zero")
@claim("training-loop.ja.md", "無限大かけるゼロは数ではありません（NaN）", "完璧にフィットしたときの勾配は本来どおりゼロです")
def test_rmse_gradient_at_a_perfect_fit_is_nan_without_eps_and_zero_with_it():
    grads = page.rmse_at_zero()["grads"]
    assert bool(grads[0.0].isnan().all())
    assert torch.equal(grads[1e-8], torch.zeros(1, 3))


@claim("training-loop.md", "Its values match `clamp(min=0)` everywhere, and so does its derivative, except at \\(x = 0\\)",
       "torch 2.14 gives 0 at both bounds", "so its\nderivative at zero is 1; with `x > 0` it is 0, as for `torch.relu`",
       "gives each half the gradient", "`clamp(min=0)` now agrees with `torch.relu` and with `x > 0`")
@claim("training-loop.ja.md", "その値はどこでも `clamp(min=0)` と一致し、導関数も \\(x = 0\\) を除けば一致します",
       "両方の境界で勾配が 0 になります", "ゼロでの導関数は 1 です。`x > 0` と書けば、`torch.relu` と同じく 0 になります",
       "勾配を半分ずつ渡します", "`clamp(min=0)` はいまでは `torch.relu` や `x > 0` と一致し")
def test_ramp_against_clamp_differs_only_at_zero_under_torch_2_14():
    result = page.ramp_matches_clamp()
    assert torch.equal(result["y_ramp"], result["y_clamp"])
    differ = result["g_ramp"] != result["g_clamp"]
    assert result["x"][differ].tolist() == [0.0]
    assert result["g_ramp"][2] == 1.0 and result["g_clamp"][2] == 0.0
    # clamp(-0.5, 0.5): slope 1 strictly inside, 0 at both bounds and outside
    assert result["g_both"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert result["at_zero"] == {"clamp(min=0)": 0.0, "Ramp()": 1.0, "where(x > 0)": 0.0,
                                 "torch.relu": 0.0, "maximum(x, 0)": 0.5}


@claim("training-loop.md", "Up to torch 2.13, `clamp` gave the gradient 1 at its bounds",
       "the comparison above printed `same gradients: True`")
@pytest.mark.parametrize("minor", ["2.12", "2.13"])
def test_up_to_torch_2_13_ramp_and_clamp_had_the_same_gradients(minor):
    text = older_torch_output("training_loop:ramp_matches_clamp", minor)
    assert "same gradients: True" in text
    assert "d clamp(-0.5, 0.5) / dx: tensor([0., 1., 1., 1., 0.])" in text


@claim("training-loop.md", "no hidden input is ever exactly zero here")
@claim("training-loop.ja.md", "ここでは隠れ層の入力がちょうどゼロになることは一度もない")
def test_no_hidden_input_of_the_ramp_network_is_exactly_zero():
    features, labels, _ = page.load_iris(DATA)
    x_train, t_train, x_test, _ = page.split(features, labels, seed=0)
    x_train, _ = page.standardize(x_train, x_test)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), page.Ramp(), nn.Linear(3, 3))
    zeros = []
    net[0].register_forward_hook(lambda module, args, out: zeros.append(int((out == 0).sum())))
    page.fit(net, x_train, t_train)
    assert len(zeros) == 50 and set(zeros) == {0}
    # nn.Sequential calls its children in order
    torch.testing.assert_close(net(x_train), net[2](net[1](net[0](x_train))), rtol=0, atol=0)


def test_ramp_equals_clamp_on_random_inputs():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1), requires_grad=True)
    page.Ramp()(x).pow(2).sum().backward()
    by_ramp = x.grad.clone()
    x.grad = None
    x.clamp(min=0).pow(2).sum().backward()
    assert torch.equal(by_ramp, x.grad)


@claim("training-loop.md", "it trains exactly like `TwoLayerNet`")
@claim("training-loop.ja.md", "`TwoLayerNet` とまったく同じように訓練されます")
def test_a_network_with_ramp_trains_exactly_like_two_layer_net():
    result = page.ramp_in_a_network()
    assert result["losses_ramp"] == result["losses_clamp"]
    assert result["losses_ramp"][-1] < result["losses_ramp"][0]
    assert torch.equal(result["with_clamp"].output.bias, result["with_ramp"][2].bias)


@claim("training-loop.md", "divided by 4, the accumulated gradient is the\nfull-batch gradient",
       "without the division `.grad` ends up \\(k\\) times the\nfull-batch gradient")
@claim("training-loop.ja.md", "4 で割れば、ためた勾配はフルバッチの勾配と一致します",
       "割らなければ `.grad` はフルバッチの勾配の \\(k\\) 倍になります")
def test_accumulating_mean_losses_divided_by_k_gives_the_full_batch_gradient():
    result = page.accumulation_on_purpose()
    k, full = result["k"], result["full"]
    assert k == 4
    assert result["gap"] < 1e-6                                   # the bound the page prints
    for divided, undivided, f in zip(result["divided"], result["undivided"], full):
        torch.testing.assert_close(divided, f, rtol=0, atol=1e-6)
        torch.testing.assert_close(undivided, k * f, rtol=0, atol=4e-6)
    assert max(f.abs().max().item() for f in full) > 0.05         # not a comparison of zeros


@claim("training-loop.md", "by\n  default, since PyTorch 2.0, it sets them to `None`", "A parameter whose `.grad` is `None` is skipped")
@claim("training-loop.ja.md", "PyTorch 2.0 以降の既定では `None` にします", "`.grad` が `None` のパラメータは飛ばされます")
def test_zero_grad_sets_none_and_step_skips_a_parameter_without_grad():
    torch.manual_seed(0)
    model = page.TwoLayerNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.output.bias.grad = torch.ones(3)                        # only this one has a gradient
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.step()
    after = list(model.parameters())
    assert all(torch.equal(b, a) for b, a in zip(before[:-1], after[:-1]))
    assert not torch.equal(before[-1], after[-1])


@claim("training-loop.md", "*adds* \\(\\partial L /\n  \\partial p\\) into `p.grad`")
@claim("training-loop.ja.md", "`p.grad` に*加算*します")
def test_backward_adds_into_grad():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (3 * w).sum().backward()
    (5 * w).sum().backward()
    assert w.grad.tolist() == [8.0, 8.0]


@claim("training-loop.md", "`torch.autograd.grad` returns a step's own gradient without touching `.grad`")
@claim("training-loop.ja.md", "`torch.autograd.grad` は `.grad` に触れずに、そのステップ自身の勾配を返します")
def test_autograd_grad_leaves_grad_alone():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad((w**2).sum(), w)
    assert w.grad is None and g.tolist() == [2.0, 4.0]


@claim("training-loop.md", "**`torch.no_grad()`** around the evaluation records no graph")
@claim("training-loop.ja.md", "評価部分を囲む **`torch.no_grad()`** は計算グラフ（computational graph）を記録しません")
def test_no_grad_records_no_graph():
    model = page.TwoLayerNet()
    with torch.no_grad():
        scores = model(torch.ones(2, 4))
    assert scores.grad_fn is None and not scores.requires_grad
    assert model(torch.ones(2, 4)).grad_fn is not None


@claim("training-loop.md", "it uses a random generator of its own, so it does not depend on, or disturb, the seed")
@claim("training-loop.ja.md", "専用の乱数生成器を使うので、ネットワークの初期の重みを決めるシードに依存することも、それを乱すこともありません")
def test_split_neither_uses_nor_disturbs_the_global_seed():
    features, labels, _ = page.load_iris(DATA)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first = page.split(features, labels, seed=0)
    assert torch.equal(torch.rand(3), expected)                    # not disturbed
    torch.manual_seed(123)
    assert torch.equal(page.split(features, labels, seed=0)[0], first[0])   # not dependent


@claim("training-loop.md", "assigning a module to an\nattribute registers it, so `model.parameters()` later finds every weight and bias inside")
@claim("training-loop.ja.md", "モジュールを属性に代入すると登録されるので、後で `model.parameters()` が中にあるすべての重みとバイアスを見つけられます")
def test_assigned_layers_are_registered():
    model = page.TwoLayerNet()
    assert [tuple(p.shape) for p in model.parameters()] == [(3, 4), (3,), (3, 3), (3,)]


@claim("training-loop.md", "`nn.Module.__call__` runs any hooks\nregistered on the module around `forward`")
@claim("training-loop.ja.md", "`nn.Module.__call__` は、モジュールに登録されたフックを `forward` の前後で実行します")
def test_calling_the_model_runs_its_hooks_and_forward_does_not():
    model = page.TwoLayerNet()
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append("before"))
    model.register_forward_hook(lambda module, args, out: calls.append("after"))
    model(torch.ones(1, 4))
    assert calls == ["before", "after"]
    model.forward(torch.ones(1, 4))
    assert calls == ["before", "after"]


@claim("training-loop.md", "One NaN in a gradient turns every weight it reaches into NaN at the next step")
@claim("training-loop.ja.md", "勾配に NaN が 1 つでもあると、次のステップでそれが届くすべての重みが NaN になります")
def test_a_nan_gradient_turns_the_weights_into_nan():
    layer = nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3))
        layer.bias.zero_()
    target = torch.tensor([[0.0, 1.0, 0.0]])
    page.RMSELoss(eps=0.0)(layer(target), target).backward()       # a perfect prediction
    assert all(bool(p.grad.isnan().all()) for p in layer.parameters())
    torch.optim.SGD(layer.parameters(), lr=0.1).step()
    assert all(bool(p.isnan().all()) for p in layer.parameters())
