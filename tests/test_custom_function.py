"""The truths each example of "Custom forward and backward" must show, on its real result."""

import gc
import weakref

import pytest
import torch
from claims import claim
from torch.autograd import gradcheck, gradgradcheck
from torch.autograd.function import once_differentiable
from torch.autograd.gradcheck import GradcheckError

from snippets import custom_function as page


def sech2(x):
    return 1 / torch.cosh(x) ** 2


@claim("custom-function.md", "and this closed form agree")
@claim("custom-function.ja.md", "そしてこの閉じた式が一致します")
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


@claim("custom-function.md", "It is largest, 1, at the origin")
@claim("custom-function.ja.md", "原点で最大の 1 になり")
def test_plot_shows_the_function_and_its_exact_derivative():
    result = page.scaled_tanh_plot()
    x = result["x"]
    torch.testing.assert_close(result["y"], 4 * torch.tanh(x / 4))
    torch.testing.assert_close(result["dy_dx"], sech2(x / 4))
    assert result["dy_dx"].max().item() == pytest.approx(1.0)
    # largest at the origin, towards zero where the function levels off
    assert abs(x[result["dy_dx"].argmax()].item()) < 1e-6      # linspace's 0 is -1.8e-7
    assert result["dy_dx"][0].item() < 0.01 and result["dy_dx"][-1].item() < 0.01


@claim("custom-function.md", "calling the class builds a useless object (with a warning), and calling such an object fails")
@claim("custom-function.ja.md", "クラスを呼び出すと役に立たないオブジェクトができ（警告が出ます）、そのオブジェクトを呼び出すと失敗します")
def test_calling_the_class_computes_nothing_and_warns():
    result = page.apply_not_the_class()
    assert isinstance(result["not_a_result"], page.ScaledTanh)
    assert not isinstance(result["not_a_result"], torch.Tensor)
    assert result["caught"] and all(issubclass(c, DeprecationWarning) for c in result["caught"])
    assert "non-static forward method is deprecated" in result["message"]   # calling it fails


@claim("custom-function.md", "makes the gradient six times the derivative of the")
@claim("custom-function.ja.md", "の 6 倍になります")
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


@claim("custom-function.md", "that is 2 for every element of \\(s\\) and 3 for every element of \\(c\\)")
@claim("custom-function.ja.md", "\\(s\\) の各要素には 2、\\(c\\) の各要素には 3 が流れ込みます")
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
@claim("custom-function.md", "Both pass for every Function so far")
@claim("custom-function.ja.md", "ここまでの Function はすべて両方に合格します")
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
@claim("custom-function.md", "so even a correct backward fails")
@claim("custom-function.ja.md", "正しい backward でも不合格になります")
def test_page_gradcheck_examples_pass_and_float32_fails():
    verdicts = page.gradcheck_every_function()["verdicts"]
    assert len(verdicts) == 4 and all(v == (True, True) for v in verdicts.values())
    assert page.gradcheck_float32()["passed"] is False


@claim("custom-function.md", "as PyTorch warns")
@claim("custom-function.ja.md", "PyTorch もそう警告します")
def test_gradcheck_in_float32_warns():
    with pytest.warns(UserWarning, match="not a double precision"):
        page.gradcheck_float32()


@claim("custom-function.md", "gradcheck raises a `GradcheckError` (a subclass of `RuntimeError`)",
       "A spot check at the origin alone would have passed")
@claim("custom-function.ja.md", "`GradcheckError`（`RuntimeError` のサブクラス）を送出し",
       "原点だけで抜き取り検査をしていたら合格していたでしょう")
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
    assert issubclass(GradcheckError, RuntimeError)
    origin = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    assert gradcheck(page.ScaledTanhWrongBackward.apply, (origin,))     # a spot check passes


@claim("custom-function.md", "backward skips the others and returns `None` for them",
       "The node that autograd records for a Function (its `grad_fn`) is the `ctx` itself")
@claim("custom-function.ja.md", "backward はそれ以外の計算を省き、それらには `None` を返します",
       "autograd が Function のために記録するノード（その `grad_fn`）は `ctx` そのもの")
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


@claim("custom-function.md", "a later attempt at a second derivative raises an error",
       "a node of type `Error`, which does nothing but raise")
@claim("custom-function.ja.md", "後から 2 階導関数を求めようとすると、黙って間違った値を返す代わりにエラーになります",
       "例外を出すことしかしない `Error` 型のノード")
def test_once_differentiable_gives_the_first_derivative_only():
    result = page.once_differentiable_second_derivative()
    x = result["x"].detach()
    torch.testing.assert_close(result["grad"], 2 * 4 * torch.tanh(x / 4) * sech2(x / 4))
    assert result["grad_fn"] == "Error"                    # the node that only raises
    assert "marked with @once_differentiable" in result["message"]
    assert result["verdicts"] == (True, False)


@claim("custom-function.md", "`.numpy()` has no storage to hand over, and the attempt raises")
@claim("custom-function.ja.md", "`.numpy()` には渡すべきストレージがなく、呼ぶと例外が出ます")
def test_generate_vmap_rule_on_numpy_code_raises():
    assert "doesn't have storage" in page.vmap_numpy_fails()["message"]


@claim("custom-function.md", "the output does not require grad", "the same rule as the built-in\n`torch.max`")
@claim("custom-function.ja.md", "その出力は勾配を必要とせず", "組み込みの `torch.max` と同じ規則です")
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


@claim("custom-function.md", "the original `ScaledTanh`, whose `forward` takes `ctx`, is\nrefused")
@claim("custom-function.ja.md", "`forward` が `ctx` を受け取る元の `ScaledTanh` は拒否されます")
def test_vmap_equals_the_loop():
    result = page.vmap_per_sample_gradients()
    torch.testing.assert_close(result["batched"], result["looped"])
    torch.testing.assert_close(result["grad_rows"], result["loop_rows"])
    torch.testing.assert_close(result["grad_scales"], result["loop_scales"])
    assert result["grad_scales"].shape == (4,)
    assert "must override the setup_context" in result["message"]   # ScaledTanh refused


@claim("custom-function.md", "saying which inputs\nrequired grad when `forward` ran",
       "`torch.autograd.grad(loss, x)` wants the gradient for `x` alone, yet backward still sees\n`(True, True)`, computes the gradient for the scale as well")
@claim("custom-function.ja.md", "`forward` を実行したときにどの入力が勾配を必要としていたかを示します",
       "backward に見えるのはやはり`(True, True)` で、スケールに対する勾配も計算し")
@claim("custom-function.md", "So `needs_input_grad` saves the work for inputs that do not require grad at all")
@claim("custom-function.ja.md", "つまり `needs_input_grad` で省けるのは、定数のスケールのように、そもそも勾配を必要としない入力の計算だけです")
def test_needs_input_grad_is_fixed_when_forward_runs():
    result = page.needs_input_grad_is_fixed()
    assert result["seen"] == [(True, True), (True, True)]        # .backward(), then grad(loss, x)
    assert result["returned"] == [(True, True), (True, True)]    # the scale's gradient computed both times
    x = result["x"].detach()
    torch.testing.assert_close(result["grad_x"], 2 * 4 * torch.tanh(x / 4) * sech2(x / 4))
    # and it is the requires_grad at forward time: a later change does not reach it
    scale = torch.tensor(4.0)
    y = page.ScaledTanhModern.apply(x.clone().requires_grad_(), scale)
    scale.requires_grad_()
    assert y.grad_fn.needs_input_grad == (True, False)


class _SavesX(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.exp()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * x.exp()


@claim("custom-function.md", "(it\n  raises instead of returning a wrong gradient)")
@claim("custom-function.ja.md", "（間違った勾配を返す代わりにエラーを出します）")
def test_a_saved_tensor_changed_in_place_makes_backward_raise():
    x = torch.ones(3, requires_grad=True)
    h = x * 1
    y = _SavesX.apply(h)
    h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@claim("custom-function.md", "apply saved-tensor hooks to them")
@claim("custom-function.ja.md", "保存テンソル用のフックも適用できます")
def test_saved_tensor_hooks_see_what_save_for_backward_saves():
    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        x = torch.ones(3, requires_grad=True)
        _SavesX.apply(x)
    assert len(packed) == 1 and packed[0] is x


@claim("custom-function.md", "it makes a reference cycle, which stays in memory after the last reference to the\n  output goes, until Python's garbage collector runs")
@claim("custom-function.ja.md", "循環参照ができ、出力への最後の参照がなくなっても、Python のガベージコレクタが動くまでメモリに残ります")
def test_an_output_stored_on_ctx_lives_until_the_garbage_collector_runs():
    def make(save):
        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = 2 * x
                if save:
                    ctx.save_for_backward(y)
                else:
                    ctx.y = y                       # a plain attribute
                return y

            @staticmethod
            def backward(ctx, grad_output):
                return 2 * grad_output
        return Double

    alive = {}
    gc.disable()
    try:
        for save in (True, False):
            y = make(save).apply(torch.ones(3, requires_grad=True))
            ref = weakref.ref(y)
            del y
            alive[save] = ref() is not None
            gc.collect()
            alive[save, "after gc"] = ref() is not None
    finally:
        gc.enable()
    assert alive == {True: False, (True, "after gc"): False, False: True, (False, "after gc"): False}


@claim("custom-function.md", "an intermediate result saved this way may break double backward")
@claim("custom-function.ja.md", "途中の計算結果をこの方法で保存すると 2 階微分（double backward）が壊れることがある")
def test_a_saved_intermediate_breaks_the_second_derivative():
    class SavesTanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            t = torch.tanh(x / 4)                   # neither an input nor an output
            ctx.save_for_backward(t)
            return 4 * t

        @staticmethod
        def backward(ctx, grad_output):
            (t,) = ctx.saved_tensors
            return grad_output * (1 - t**2)

    x = torch.randn(4, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    assert gradcheck(SavesTanh.apply, (x,))
    assert not gradgradcheck(SavesTanh.apply, (x,), raise_exception=False)
    assert gradgradcheck(page.ScaledTanh.apply, (x,))          # which saves the input instead


@claim("custom-function.md", "`backward` must still return exactly one value\nper argument of `forward`")
@claim("custom-function.ja.md", "`backward` は、`forward` の引数 1 つにつきちょうど 1 つの値を同じ順序で返し")
def test_backward_returning_too_few_gradients_raises():
    class Forgets(page.RepeatActivation):
        @staticmethod
        def backward(ctx, grad_output):
            return page.RepeatActivation.backward(ctx, grad_output)[0]

    y = Forgets.apply(torch.ones(2, requires_grad=True), 3, "tanh")
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 3, got 1\)"):
        y.sum().backward()


@claim("custom-function.md", "backward still\nreceives a gradient for it, filled with zeros", "to receive `None` instead")
@claim("custom-function.ja.md", "ゼロで埋めた勾配を受け取る", "代わりに `None` を受け取って")
def test_an_unused_output_sends_zeros_or_none():
    received = {}

    class Records(page.SinCos):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return page.SinCos.forward(ctx, x)

        @staticmethod
        def backward(ctx, grad_sin, grad_cos):
            received[ctx.materialize] = grad_cos
            return grad_sin * torch.cos(ctx.saved_tensors[0]), None

    for materialize in (True, False):
        x = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
        s, c = Records.apply(x, materialize)
        s.grad_fn.materialize = materialize
        s.sum().backward()
    assert torch.equal(received[True], torch.zeros(3))
    assert received[False] is None


@claim("custom-function.md", "a mistake in\n`forward` itself goes unnoticed")
@claim("custom-function.ja.md", "`forward` 自体の間違いには\n気づきません")
def test_gradcheck_misses_a_wrong_forward_whose_backward_matches_it():
    class WrongForward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):                       # meant 4 tanh(x / 4); the 4s forgotten
            ctx.save_for_backward(x)
            return torch.tanh(x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * sech2(x)

    x = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64, requires_grad=True)
    assert gradcheck(WrongForward.apply, (x,))
    assert not torch.allclose(WrongForward.apply(x), page.ScaledTanh.apply(x))


@claim("custom-function.md", "backward runs with gradient recording off")
@claim("custom-function.ja.md", "backward は勾配の記録をオフにして実行され")
def test_once_differentiable_backward_runs_without_recording():
    recording = {}

    def make(decorate):
        class Spy(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return 2 * x

            @staticmethod
            def backward(ctx, grad_output):
                recording[decorate] = torch.is_grad_enabled()
                return 2 * grad_output

        if decorate:
            Spy.backward = staticmethod(once_differentiable(Spy.backward))
        return Spy

    for decorate in (False, True):
        x = torch.ones(2, requires_grad=True)
        torch.autograd.grad(make(decorate).apply(x).sum(), x, create_graph=True)
    assert recording == {False: True, True: False}


@claim("custom-function.md", "instead of silently returning a\nwrong one")
@claim("custom-function.ja.md", "黙って間違った値を返す代わりにエラーになります")
def test_without_once_differentiable_the_numpy_backward_gives_a_wrong_second_derivative():
    class Undecorated(page.NumpyScaledTanh):
        backward = staticmethod(page.NumpyScaledTanh.backward.__wrapped__)

    x = torch.tensor([0.5, -1.0, 3.0], dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad((Undecorated.apply(x) ** 2).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)               # no error ...
    t = x.detach()
    y, s2 = 4 * torch.tanh(t / 4), sech2(t / 4)
    exact = 2 * s2**2 + 2 * y * (-0.5 * torch.tanh(t / 4) * s2)   # d/dx (2y sech²(x/4))
    torch.testing.assert_close(second, 2 * s2**2)                 # ... and wrong: only the path through y
    assert ((second - exact).abs() > 0.01).all()
