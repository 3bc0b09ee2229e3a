"""The truths each example of "Hooks, saved tensors and memory" must show, on its real result."""

import pytest
import torch

from snippets import hooks_and_memory as page


def test_tensor_hook_halves_the_gradient_that_reaches_the_leaf():
    result = page.tensor_hooks()
    x = result["x"]
    # z = sum((3x)²): dz/dx = 18x, halved by the hook on y
    torch.testing.assert_close(x.grad, 9 * x.detach())
    torch.testing.assert_close(result["y"], 3 * x.detach())


def test_post_accumulate_hook_sees_the_final_grad(capsys):
    page.tensor_hooks()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gradient arriving at y: tensor([ 6., 12., 18.])")
    assert lines[1] == "x.grad once accumulated: tensor([ 9., 18., 27.])"


def test_forward_pre_hook_replaced_the_inputs_and_backward_hook_saw_the_shapes(capsys):
    result = page.module_hooks()
    x, layer = result["x"], result["layer"]
    clipped = x.detach().clamp(-1, 1)
    torch.testing.assert_close(result["out"], layer(clipped).detach())
    outside = x.detach().abs() > 1
    assert outside.any() and (~outside).any()      # the example clips some inputs, not all
    assert (x.grad[outside] == 0).all()
    expected = layer.weight.detach().sum(0).expand(4, 3)   # d sum(xW^T + b)/dx
    torch.testing.assert_close(x.grad[~outside], expected[~outside])
    out = capsys.readouterr().out
    assert "grad_output shape: (4, 2)" in out and "grad_input shape : (4, 3)" in out
    assert not layer._forward_pre_hooks and not layer._backward_hooks   # removed


def test_saved_attributes_are_what_each_derivative_needs():
    result = page.saved_attributes()
    x, w = result["x"], result["w"]
    product, exponential = result["product"].grad_fn, result["exponential"].grad_fn
    assert product._saved_self is x and product._saved_other is w
    assert torch.equal(exponential._saved_result, result["exponential"])
    saved = [a for a in dir(result["summed"].grad_fn) if a.startswith("_saved_")]
    assert saved == ["_saved_alpha"]                # a number, no tensor


def test_saved_bytes_counts_inputs_weights_and_results():
    result = page.count_saved()
    activation = 64 * 256 * 4
    weight = 256 * 256 * 4
    # block 1: its input (for the weight's gradient) and tanh's result; the weight is not
    # saved because the batch needs no gradient. Blocks 2-4: input, weight and result each.
    assert result["training"] == 2 * activation + 3 * (2 * activation + weight)
    assert result["training"] == 20 * activation
    assert result["no_grad"] == 0


def test_saved_bytes_is_deterministic():
    model = page.mlp()
    batch = torch.ones(64, 256)
    counts = {page.saved_bytes(model, batch)[1] for _ in range(3)}
    assert len(counts) == 1


def test_save_on_cpu_keeps_the_gradients():
    assert page.on_cpu()["same"] is True


def test_checkpointing_saves_fewer_bytes_and_the_same_gradient(capsys):
    result = page.checkpointing()
    plain, checkpointed = result["results"]["plain"], result["results"]["checkpointed"]
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b)
    assert result["same"] is True
    out = capsys.readouterr().out
    activation, weight = 64 * 256 * 4, 256 * 256 * 4
    # plain: every block keeps its input, weight and tanh's result; checkpointed: only
    # each block's input, kept by the checkpoint to recompute the block in backward
    assert f"plain       : {4 * (2 * activation + weight):7,} bytes saved, 4 block forwards" in out
    assert f"checkpointed: {4 * activation:7,} bytes saved, 8 block forwards" in out


def test_one_where_gives_nan_and_two_wheres_a_finite_gradient():
    result = page.where_trap()
    x = result["x"]
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.5, 0.25]))   # 1/(2 sqrt x), 0 at 0
    naive = x.detach().clone().requires_grad_()
    torch.where(naive > 0, torch.sqrt(naive), 0.0).sum().backward()
    assert torch.isnan(naive.grad[0]) and torch.isfinite(naive.grad[1:]).all()
    torch.testing.assert_close(result["y"], torch.sqrt(x.detach()))


def test_eval_no_grad_and_inference_mode_change_different_things(capsys):
    result = page.eval_no_grad_inference()
    lines = capsys.readouterr().out.splitlines()
    table = {line[:15].strip(): line[15:].split() for line in lines[:5]}
    assert table == {
        "train()": ["requires_grad=True", "repeatable=False", "inference=False"],
        "train, no_grad": ["requires_grad=False", "repeatable=False", "inference=False"],
        "eval()": ["requires_grad=True", "repeatable=True", "inference=False"],
        "eval, no_grad": ["requires_grad=False", "repeatable=True", "inference=False"],
        "eval, inference": ["requires_grad=False", "repeatable=True", "inference=True"],
    }
    assert result["out"].is_inference()
    assert lines[5].startswith("RuntimeError: Inference tensors cannot be saved for backward")
    with pytest.raises(RuntimeError):
        (result["out"] * torch.ones(4, requires_grad=True)).sum().backward()


def test_checkpoint_warns_when_use_reentrant_is_left_out():
    x = torch.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        page.checkpoint(torch.sin, x)
