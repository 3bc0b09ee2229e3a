"""The truths each example of "Errors and how to read them" must show, on its real result.

Every failing example must really raise (or warn) the error it is about, with the key
phrase in PyTorch's own message; every fix must run without it and give the right gradient.
"""

import contextlib
import io
import warnings

import pytest
import torch

from claims import claim
from snippets import error_atlas as page


def assert_raised(error, phrase):
    assert type(error) is RuntimeError
    assert phrase in str(error)


@pytest.fixture
def no_warnings():
    """Turn every warning into an error, so a fix that still warns fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# 1. Backward through the graph a second time

def test_second_backward_through_a_shared_part_fails():
    assert_raised(page.backward_twice()["failure"], "backward through the graph a second time")


def test_retain_graph_and_one_backward_of_the_sum_give_the_exact_gradient(no_warnings):
    result = page.backward_twice_fixed()
    torch.testing.assert_close(result["retained"], result["exact"])
    torch.testing.assert_close(result["summed"], result["exact"])
    x = torch.tensor([0.5, 1.0, 1.5])
    torch.testing.assert_close(result["exact"], x.exp() + 2 * (2 * x).exp())


def test_carried_state_fails_on_the_second_step():
    result = page.carried_state()
    assert result["failed_step"] == 1
    assert_raised(result["failure"], "backward through the graph a second time")


def test_detached_state_gives_each_step_its_own_gradient(no_warnings):
    steps = page.carried_state_detached()["steps"]
    assert len(steps) == 3
    for autograd, by_hand in steps:
        assert autograd == pytest.approx(by_hand)
    # state: 1 -> 1.5 -> 2.75 -> 4.375 with w = 0.5; gradient 2(state - 2) * previous
    assert [g for g, _ in steps] == pytest.approx([-1.0, 2 * (2.75 - 2) * 1.5, 2 * (4.375 - 2) * 2.75])


# 2. Does not require grad and does not have a grad_fn

def test_unrecorded_loss_fails_for_both_causes():
    result = page.no_grad_fn()
    failures = result["failures"]
    assert len(failures) == 2
    for failure in failures:
        assert_raised(failure, "does not require grad")
        assert "does not have a grad_fn" in str(failure)
        assert "element 0 of tensors" in str(failure)
    # the second cause: the weight requires grad, the loss made under no_grad does not
    assert result["w"].requires_grad
    assert not result["loss"].requires_grad and result["loss"].grad_fn is None


def test_element_0_of_tensors_is_an_index_into_the_tensors_given_to_backward():
    recorded = torch.tensor(1.0, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="element 1 of tensors does not require grad"):
        torch.autograd.backward([recorded, torch.tensor(3.0)])


def test_recorded_loss_gives_the_exact_gradient(no_warnings):
    result = page.no_grad_fn_fixed()
    assert result["requires_grad"]
    # d/dw mean((w x - t)^2) = mean(2 (w x - t) x) = -14 at w = 0.5
    assert result["grad"].item() == pytest.approx(-14.0)
    torch.testing.assert_close(result["grad"], result["by_hand"])


# 3. A leaf that requires grad used in an in-place operation

def test_update_of_a_leaf_outside_no_grad_fails_and_changes_nothing():
    result = page.leaf_in_place()
    assert_raised(result["failure"], "leaf Variable that requires grad")
    assert "in-place operation" in str(result["failure"])
    assert torch.equal(result["w"].detach(), torch.tensor([1.0, -2.0]))


def test_update_under_no_grad_moves_the_leaf_and_keeps_it_trainable(no_warnings):
    result = page.leaf_in_place_fixed()
    w, x = result["w"], result["x"]
    w0 = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(result["first_grad"], 2 * w0 * x)
    torch.testing.assert_close(w.detach(), w0 - 0.1 * 2 * w0 * x)
    assert w.is_leaf and w.requires_grad
    torch.testing.assert_close(w.grad, 2 * w.detach() * x)


# 4. A variable needed for gradient computation modified by an in-place operation

def test_changing_what_sigmoid_saved_fails():
    failure = page.inplace_modified()["failure"]
    assert_raised(failure, "modified by an inplace operation")
    assert "is at version 1; expected version 0" in str(failure)


def test_anomaly_mode_names_the_backward_node():
    result = page.inplace_anomaly()
    assert_raised(result["failure"], "modified by an inplace operation")
    assert result["found"] == ["Error detected in SigmoidBackward0"]
    # under anomaly mode the hint points to the backtrace instead of anomaly detection
    assert "the backtrace further above" in str(result["failure"])
    assert "enable anomaly detection" in str(page.inplace_modified()["failure"])
    assert not torch.is_anomaly_enabled()


def test_out_of_place_mask_and_clone_give_the_exact_gradient(no_warnings):
    result = page.inplace_modified_fixed()
    z = torch.tensor([-1.0, 0.0, 2.0])
    s = torch.sigmoid(z)
    expected = s * (1 - s) * torch.tensor([0.0, 1.0, 1.0])
    torch.testing.assert_close(result["exact"], expected)
    torch.testing.assert_close(result["masked"], expected)
    torch.testing.assert_close(result["cloned"], expected)


# 5. The .grad of a tensor that is not a leaf

@claim("error-atlas.md", "PyTorch ends the message with the file and line of its own C++",
       "`(Triggered internally at ...)`", "the example prints the message without it")
@claim("error-atlas.ja.md", "自身の C++ ソースのファイルと行番号（`(Triggered internally at ...)`）を付けます",
       "例ではそれを除いたメッセージを出力しています")
def test_reading_grad_of_an_intermediate_warns_and_gives_none():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = page.non_leaf_grad()
    assert "(Triggered internally at" in str(result["warnings"][0].message)
    assert "Triggered internally" not in printed.getvalue()
    assert "not a leaf Tensor is being accessed" in printed.getvalue()
    assert result["h_grad"] is None
    messages = [str(w.message) for w in result["warnings"] if issubclass(w.category, UserWarning)]
    assert len(messages) == 1
    assert "not a leaf Tensor is being accessed" in messages[0]
    torch.testing.assert_close(result["x_grad"], torch.tensor([18.0, 36.0]))


def test_retain_grad_keeps_the_intermediate_gradient(no_warnings):
    result = page.retain_grad_fixed()
    h = result["h"]
    torch.testing.assert_close(result["h_grad"], 2 * h)
    torch.testing.assert_close(result["x_grad"], 3 * 2 * h)


def test_weight_scaled_before_requires_grad_is_a_leaf_with_a_gradient(no_warnings):
    result = page.non_leaf_weight()
    assert result["w"].is_leaf
    # the first spelling: scaled after requires_grad=True is recorded, so not a leaf
    assert not (torch.randn(3, requires_grad=True) * 0.01).is_leaf
    torch.testing.assert_close(result["w"].grad, result["x"])


# 6. Grad can be implicitly created only for scalar outputs

def test_backward_of_per_sample_losses_fails():
    assert_raised(page.non_scalar_backward()["failure"], "only for scalar outputs")


def test_mean_and_gradient_of_ones_give_the_exact_gradients(no_warnings):
    result = page.non_scalar_backward_fixed()
    w, x, t = result["w"], result["x"], result["target"]
    per_sample = 2 * (w * x - t) * x
    torch.testing.assert_close(result["mean_grad"], per_sample.mean())
    torch.testing.assert_close(result["sum_grad"], per_sample.sum())
    torch.testing.assert_close(result["sum_grad"], len(x) * result["mean_grad"])
