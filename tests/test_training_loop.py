"""The truths each example of "Forward and backward in a training loop" must show, on its real result."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from snippets import training_loop as page

DATA = Path(page.__file__).parent / "data" / "iris.csv"
DOWNLOAD = Path(page.__file__).parent.parent / "docs" / "data" / "iris.csv"


def test_the_data_file_has_150_flowers_4_measurements_3_species_of_50():
    features, labels, species = page.load_iris(DATA)
    assert features.shape == (150, 4) and features.dtype == torch.float32
    assert species == ["setosa", "versicolor", "virginica"]
    assert labels.bincount().tolist() == [50, 50, 50]
    assert bool((features > 0).all()) and bool((features < 8).all())  # centimetres
    # Fisher's values, not the UCI copy's (which differs in flowers 35 and 38)
    assert features[34].tolist() == torch.tensor([4.9, 3.1, 1.5, 0.2]).tolist()
    assert features[37].tolist() == torch.tensor([4.9, 3.6, 1.4, 0.1]).tolist()


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


def test_each_call_left_out():
    runs = page.leave_one_out()["runs"]
    full, no_zero = runs["all three calls"], runs["without zero_grad()"]
    no_backward, no_step = runs["without backward()"], runs["without step()"]
    assert full[0][-1] < full[0][0]
    # without step() the weights never move: the loss is exactly the same at every step
    assert len(set(no_step[0])) == 1 and no_step[0][0] == full[0][0]
    # without backward() there are no gradients and step() has nothing to apply
    assert len(set(no_backward[0])) == 1 and set(no_backward[1]) == {0.0}
    # without zero_grad() the gradients pile up: the norm grows well past the first step's
    assert max(no_zero[1]) > 5 * no_zero[1][0]
    assert all(later > earlier for earlier, later in zip(no_zero[1][:8], no_zero[1][1:9]))
    assert no_zero[0] != full[0]
    # ... the loss falls faster than with all three calls, overshoots, and swings back up
    lowest = min(range(20), key=no_zero[0].__getitem__)          # the first trough
    assert no_zero[0][lowest] < min(full[0])
    assert max(no_zero[0][lowest:]) > no_zero[0][lowest] + 20


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


def test_dead_units_get_no_gradient_and_the_loss_stops_at_the_class_frequencies():
    result = page.dead_units()
    model, p, n = result["model"], result["p"], result["n"]
    assert torch.equal(result["active"], torch.zeros(3))
    assert torch.equal(model.hidden.weight.grad, torch.zeros(3, 4))
    torch.testing.assert_close(model.output.bias.detach(), p, atol=1e-4, rtol=0)
    assert math.isclose(result["losses"][-1], n * (1 - (p**2).sum().item()), rel_tol=1e-5)


def test_standardized_inputs_keep_the_units_alive_and_classify():
    result = page.standardized_inputs()
    raw, standard = result["results"]["raw measurements"], result["results"]["standardized"]
    assert raw["active"] == 0 and standard["active"] == 3
    assert standard["losses"][-1] < raw["losses"][-1] / 2
    assert standard["correct"] >= 0.9 * result["n_test"]
    assert (raw["correct"], standard["correct"]) == (14, 47)      # as the page says


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


def test_rmse_with_eps_cannot_go_below_sqrt_eps():
    target = torch.tensor([[0.0, 1.0, 0.0]])
    assert math.isclose(page.RMSELoss(eps=1e-8)(target, target).item(), 1e-4, rel_tol=1e-6)


def test_rmse_gradient_at_a_perfect_fit_is_nan_without_eps_and_zero_with_it():
    grads = page.rmse_at_zero()["grads"]
    assert bool(grads[0.0].isnan().all())
    assert torch.equal(grads[1e-8], torch.zeros(1, 3))


def test_ramp_equals_clamp_in_value_and_gradient():
    result = page.ramp_matches_clamp()
    assert torch.equal(result["y_ramp"], result["y_clamp"])
    assert torch.equal(result["g_ramp"], result["g_clamp"])
    assert result["at_zero"] == {"clamp(min=0)": 1.0, "Ramp()": 1.0, "torch.relu": 0.0, "maximum(x, 0)": 0.5}


def test_ramp_equals_clamp_on_random_inputs():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1), requires_grad=True)
    page.Ramp()(x).pow(2).sum().backward()
    by_ramp = x.grad.clone()
    x.grad = None
    x.clamp(min=0).pow(2).sum().backward()
    assert torch.equal(by_ramp, x.grad)


def test_a_network_with_ramp_trains_exactly_like_two_layer_net():
    result = page.ramp_in_a_network()
    assert result["losses_ramp"] == result["losses_clamp"]
    assert result["losses_ramp"][-1] < result["losses_ramp"][0]
    assert torch.equal(result["with_clamp"].output.bias, result["with_ramp"][2].bias)
