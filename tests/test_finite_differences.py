"""The truths each example of "Cutting the graph with finite differences" must show, on its real result."""

import math

import pytest
import torch
from claims import claim

from snippets import finite_differences as page

TRUE_W = torch.tensor([1.2, -3.4])
# Noise-free float32 data: both fits must land on the true weights to well below this.
FIT_TOLERANCE = 1e-4


# --- the model and its string twin -------------------------------------------------------

@claim("finite-differences.md",
       "`backward()` fills `w.grad` with \\((2x, x^2)\\) at \\(x = 1\\)",
       "Its `grad_fn` is `None`, and `backward()` fails with the message shown above")
@claim("finite-differences.ja.md",
       "`backward()` は `w.grad` に \\((2x, x^2)\\) の \\(x = 1\\) での値を格納します",
       "その `grad_fn` は `None` で、`backward()` は上に示したメッセージで失敗します")
def test_string_version_has_no_graph_and_backward_fails():
    result = page.graph_or_no_graph()
    assert torch.equal(result["w_grad"], torch.tensor([2.0, 1.0]))
    assert torch.equal(result["y"], result["y_string"])
    assert result["y_string"].grad_fn is None
    assert "does not require grad" in result["message"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_string_version_computes_the_same_values(dtype):
    x = torch.linspace(-1, 1, 21, dtype=dtype)            # negative x: the parentheses matter
    w = torch.tensor([1.2, -3.4], dtype=dtype)
    torch.testing.assert_close(page.f_string(x, w), page.f(x, w))


@claim("finite-differences.md",
       "the data are the same wherever the function is called")
@claim("finite-differences.ja.md",
       "この関数をどこで呼んでも同じデータになります")
def test_data_is_seeded_float32_uniform_and_on_the_true_curve():
    x_train, y_train, x_valid, y_valid = page.training_data()["data"]
    assert x_train.shape == (200,) and x_valid.shape == (10,)
    assert x_train.dtype == torch.float32
    assert 0 <= x_train.min() and x_train.max() < 1
    torch.testing.assert_close(y_train, 2 * x_train * 1.2 + x_train**2 * -3.4)
    torch.testing.assert_close(y_valid, page.f(x_valid, TRUE_W))
    for again, before in zip(page.make_data(seed=0), (x_train, y_train, x_valid, y_valid)):
        assert torch.equal(again, before)
    assert not torch.equal(page.make_data(seed=1)[0], x_train)


# --- the two fits ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def both():
    return page.fit_both()


def test_autograd_fit_reaches_the_true_weights():
    result = page.fit_with_autograd()
    torch.testing.assert_close(result["w"], TRUE_W, rtol=0, atol=FIT_TOLERANCE)
    assert len(result["losses"]) == 20
    assert result["losses"][-1] < 1e-3 * result["losses"][0]


@claim("finite-differences.md",
       "in 20 epochs it falls by about eleven orders of magnitude, to a few times \\(10^{-12}\\), and it is still falling in the last epoch",
       "The fitted weights agree with the true ones to within \\(10^{-5}\\)")
@claim("finite-differences.ja.md",
       "20 エポックで損失はおよそ 11 桁下がって \\(10^{-12}\\) の数倍になり、最後のエポックでもまだ下がり続けています",
       "学習後の重みは真の重みと \\(10^{-5}\\) 以内で一致します")
def test_autograd_fit_loss_falls_eleven_orders_with_no_floor_in_sight():
    result = page.fit_with_autograd()
    losses = result["losses"]
    # "about eleven orders of magnitude, to a few times 1e-12"
    assert 1e10 < losses[0] / losses[-1] < 1e12
    assert 1e-12 < losses[-1] < 1e-11
    # "still falling in the last epoch": no floor in the plot
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert losses[-1] < losses[-2] / 5
    # "agree with the true ones to within 1e-5"
    assert (result["w"] - TRUE_W).abs().max() < 1e-5


def test_finite_difference_fit_reaches_the_true_weights(both):
    torch.testing.assert_close(both["w_fd"], TRUE_W, rtol=0, atol=FIT_TOLERANCE)
    torch.testing.assert_close(both["w"], TRUE_W, rtol=0, atol=FIT_TOLERANCE)


@claim("finite-differences.md",
       "The two loss curves lie on top of each other, both models reach the same weights to five decimals",
       "their validation predictions differ by less than ten times the resolution of float32")
@claim("finite-differences.ja.md",
       "2 本の損失曲線はぴったり重なり、どちらのモデルも小数点以下 5 桁まで同じ重みに到達し",
       "検証データでの予測の差は float32 の分解能の 10 倍未満です")
def test_the_two_fits_agree(both):
    torch.testing.assert_close(both["w_fd"], both["w"], rtol=0, atol=1e-5)  # five decimals
    assert both["gap"].max() < 10 * torch.finfo(torch.float32).eps
    for autograd_loss, fd_loss in zip(both["losses"][:10], both["losses_fd"][:10]):
        assert fd_loss == pytest.approx(autograd_loss, rel=1e-2)


def test_both_loss_curves_fall_below_the_floor_their_record_clips_at(both):
    """The page says the curves' values below about 1e-6 are the machine's own: there are such values."""
    assert min(both["losses"]) < 1e-6 and min(both["losses_fd"]) < 1e-6
    assert page.fit_both.tolerance[2] == 1e-6


def test_autograd_fit_in_the_page_and_in_fit_both_are_the_same():
    assert torch.equal(page.fit_with_autograd()["w"], page.fit_both()["w"])


@claim("finite-differences.md",
       "Each training step evaluated `f_string` three times")
@claim("finite-differences.ja.md",
       "各学習ステップで `f_string` は 3 回評価されました")
def test_forward_differences_cost_n_plus_one_calls_per_step(both):
    assert both["calls"] == 20 * 20 * (2 + 1)


@claim("finite-differences.md",
       "which makes the first entry exactly \\(2\\,(\\mathrm{fl}(1.001) - 1) / 0.001 = 2.0000935\\)")
@claim("finite-differences.ja.md",
       "そのため第 1 成分はちょうど \\(2\\,(\\mathrm{fl}(1.001) - 1) / 0.001 = 2.0000935\\) となり")
def test_float32_first_entry_is_the_step_width_error_alone():
    grads = page.difference_gradient()["grads"]
    stored = torch.tensor(1.001, dtype=torch.float32).item()      # fl(1.001)
    assert stored != 1.001
    x = torch.tensor([1.0])
    # f is exact at the perturbed point: 2·fl(1.001) + 1 is a float32 number
    at_step = page.f_string(x, torch.tensor([stored, 1.0])).item()
    assert at_step == 2 * stored + 1
    # the first entry is 2·(fl(1.001) - 1)/0.001, rounded once to float32
    exact_quotient = 2 * (stored - 1) / 0.001
    assert grads[torch.float32][0].item() == torch.tensor(exact_quotient).item()
    assert math.isclose(exact_quotient / 2 - 1, 4.7e-5, rel_tol=0.01)


@claim("finite-differences.md",
       "The result has a `grad_fn` again")
@claim("finite-differences.ja.md",
       "結果には再び `grad_fn` があり")
def test_the_difference_result_has_a_grad_fn_again():
    assert page.difference_gradient()["grad_fn"] == "ForwardDifferenceBackward"


@claim("finite-differences.md",
       "The float64 gradient is off for the same reason only")
@claim("finite-differences.ja.md",
       "float64 の勾配がずれているのも同じ理由だけによるものです")
def test_float64_error_is_the_step_width_alone_for_both_entries():
    grads = page.difference_gradient()["grads"]
    assert grads[torch.float64].tolist() == [2 * (1.001 - 1) / 0.001,
                                             (1.001 - 1) / 0.001]


@claim("finite-differences.md",
       "0.99993 instead of the 1.0000467 the step width alone would give")
@claim("finite-differences.ja.md",
       "刻み幅だけなら 1.0000467 になるはずのところが 0.99993 になっています")
def test_float32_second_entry_adds_the_rounding_of_f():
    grads = page.difference_gradient()["grads"]
    stored = torch.tensor(1.001, dtype=torch.float32).item()
    at_step = page.f_string(torch.tensor([1.0]), torch.tensor([1.0, stored]))
    # 3.0010000467... is not a float32 number: the value is rounded by ~1.2e-7
    rounding = at_step.item() - (2 + stored)
    assert rounding != 0 and math.isclose(abs(rounding), 1.2e-7, rel_tol=0.05)
    second = grads[torch.float32][1].item()
    step_only = (stored - 1) / 0.001
    # a thousandfold magnified: 0.99993 instead of 1.0000467
    assert round(second, 5) == 0.99993 and round(step_only, 7) == 1.0000467
    assert math.isclose(second - step_only, rounding / 0.001, rel_tol=1e-3)


@claim("finite-differences.md",
       "The first error disappears if the difference is divided by the distance between the two points actually evaluated")
@claim("finite-differences.ja.md",
       "1 つ目の誤差は、実際に評価した 2 点間の距離で差を割れば消えます")
def test_the_wrapper_divides_by_the_width_evaluated_and_removes_the_step_error():
    """The same point in float32: the wrapper's forward scheme gets the first entry exact."""
    w = torch.tensor([1.0, 1.0], requires_grad=True)
    page.finite_differences(page.f_string, scheme="forward")(torch.tensor([1.0]), w).sum().backward()
    assert w.grad[0].item() == 2.0
    assert page.difference_gradient()["grads"][torch.float32][0].item() != 2.0


def test_forward_difference_gradient_is_close_to_autograd_with_rounding_error_only():
    w_grad = page.difference_gradient()["w_grad_float64"]
    # f is linear in w: only rounding, about eps / step, is left
    torch.testing.assert_close(w_grad, torch.tensor([2.0, 1.0], dtype=torch.float64), rtol=0, atol=1e-11)


@claim("finite-differences.md",
       "`None` for the function, and `None` for `x`",
       "No gradient for inputs unless you estimate it too")
@claim("finite-differences.ja.md",
       "関数に対しては `None`、ここではデータであって勾配（gradient）の要らない `x` に対しても `None` です",
       "入力に対する勾配は、それも推定しない限り得られません")
def test_forward_difference_backward_weights_each_output_by_grad_output():
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(10, dtype=torch.float64, generator=generator).requires_grad_()
    v = torch.randn(10, dtype=torch.float64, generator=generator)
    w_fd = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    page.ForwardDifference.apply(page.f_string, x, w_fd).backward(v)
    w_ag = w_fd.detach().clone().requires_grad_()
    page.f(x.detach(), w_ag).backward(v)
    torch.testing.assert_close(w_fd.grad, w_ag.grad, rtol=1e-9, atol=1e-9)
    assert x.grad is None                                  # backward returned None for x


# --- the accuracy study ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme, power", [("forward", 1 / 2), ("central", 1 / 3)])
@claim("finite-differences.md",
       "h_{\\text{forward}} = 2\\sqrt{\\frac{\\varepsilon |f|}{|f''|}} \\sim \\sqrt{\\varepsilon}")
@claim("finite-differences.ja.md",
       "h_{\\text{forward}} = 2\\sqrt{\\frac{\\varepsilon |f|}{|f''|}} \\sim \\sqrt{\\varepsilon}")
def test_located_optimal_step_is_within_an_order_of_magnitude_of_theory(dtype, scheme, power):
    best = page.step_size_study()["best_steps"][dtype, scheme]
    theory = torch.finfo(getattr(torch, dtype)).eps ** power
    assert theory / 10 < best < theory * 10


@pytest.fixture(scope="module")
def study():
    return page.step_size_study()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme, order", [("forward", 1), ("central", 2)])
@claim("finite-differences.md",
       "the error falls with slope 1 for forward differences and 2 for central ones")
@claim("finite-differences.ja.md",
       "誤差は前進差分で傾き 1、中心差分で傾き 2 で減少します")
def test_truncation_error_falls_with_the_order_of_the_scheme_at_large_steps(study, dtype, scheme, order):
    steps, error = study["steps"][:5].log10(), study["errors"][dtype, scheme][:5].log10()
    slope = ((error[-1] - error[0]) / (steps[-1] - steps[0])).item()
    assert slope == pytest.approx(order, abs=0.1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme", ["forward", "central"])
@claim("finite-differences.md",
       "Each curve is a V on the log-log plot")
@claim("finite-differences.ja.md",
       "両対数グラフ上で、どの曲線も V 字になります")
def test_each_error_curve_is_a_v_that_rises_again_at_small_steps(study, dtype, scheme):
    error = study["errors"][dtype, scheme]
    best = int(error.argmin())
    assert 0 < best < len(error) - 1
    assert error[-1] > 100 * error[best] and error[0] > 100 * error[best]


@pytest.mark.parametrize("scheme", ["forward", "central"])
@claim("finite-differences.md",
       "On the left, rounding dominates: the error rises like \\(1/h\\)")
@claim("finite-differences.ja.md",
       "左側では丸め誤差が支配的で、誤差は \\(1/h\\) のように増えます")
def test_rounding_error_rises_like_one_over_the_step_at_small_steps(study, scheme):
    steps, error = study["steps"][-5:].log10(), study["errors"]["float64", scheme][-5:].log10()
    slope = ((error[-1] - error[0]) / (steps[-1] - steps[0])).item()
    assert slope == pytest.approx(-1, abs=0.2)


@claim("finite-differences.md",
       "\\(w + h\\) rounds back to \\(w\\), the estimate is zero, and the error is the whole derivative")
@claim("finite-differences.ja.md",
       "\\(w + h\\) は \\(w\\) に丸め戻されて推定値は 0 になり、誤差は微分の値そのものになります")
def test_float32_smallest_steps_see_no_slope_and_err_by_the_whole_derivative(study):
    """w + h rounds back to w: the estimate is 0, the error the largest |g'(w)| = 1 (at w = 1)."""
    for scheme in ("forward", "central"):
        assert study["errors"]["float32", scheme][-1].item() == 1.0
    assert study["steps"][0].item() == 1 / 8 and study["steps"][-1].item() < 1e-12 * 1.1


# --- the reusable wrapper -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@claim("finite-differences.md",
       "within a factor of 10 of \\(\\sqrt{\\varepsilon}\\) for forward differences and of \\(\\varepsilon^{2/3}\\) for central ones")
@claim("finite-differences.ja.md",
       "前進差分では \\(\\sqrt{\\varepsilon}\\) の、中心差分では \\(\\varepsilon^{2/3}\\) の 10 倍以内で")
def test_wrapper_matches_autograd_to_the_expected_order(dtype):
    errors = page.wrapper_against_autograd()["errors"]
    eps = torch.finfo(getattr(torch, dtype)).eps
    for scheme, order in (("forward", eps ** (1 / 2)), ("central", eps ** (2 / 3))):
        for error in errors[dtype, scheme]:       # dL/dw and dL/dx
            assert order / 10 < error < 10 * order, (scheme, error)
    assert max(errors[dtype, "central"]) < min(errors[dtype, "forward"])


@claim("finite-differences.md",
       "agree with it to the six digits shown, with errors of the order expected of their scheme")
@claim("finite-differences.ja.md",
       "表示している 6 桁まで複素ステップと一致します。誤差はそれぞれの差分方式で予想されるオーダーです")
def test_wrapper_matches_the_complex_step():
    result = page.wrapper_complex_step()
    assert result["agree"]
    eps = torch.finfo(torch.float64).eps
    assert eps ** (1 / 2) / 10 < result["errors"]["forward"] < 10 * eps ** (1 / 2)
    assert eps ** (2 / 3) / 10 < result["errors"]["central"] < 10 * eps ** (2 / 3)
    six_digits = lambda values: [float(f"{v:.6g}") for v in values.tolist()]  # noqa: E731
    for grad in result["grads"].values():
        assert six_digits(grad) == six_digits(result["reference"])


@claim("finite-differences.md",
       "the derivative is exact to machine precision")
@claim("finite-differences.ja.md",
       "微分はマシン精度まで正確です")
def test_complex_step_is_exact_to_machine_precision():
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)
    jacobian = page.complex_step_jacobian(page.lorentzian_numpy, x, w)
    exact = torch.autograd.functional.jacobian(lambda w: page.lorentzian(x, w), w).T
    torch.testing.assert_close(jacobian, exact, rtol=1e-14, atol=1e-15)


@claim("finite-differences.md",
       "A gradient by forward differences needs \\(n + 1\\) evaluations of the black box for \\(n\\) weights",
       "or a single call when the black box takes a stack of weights")
@claim("finite-differences.ja.md",
       "前進差分で勾配を求めるには、ブラックボックスを \\(n + 1\\) 回評価する必要があります",
       "ブラックボックスが重みの積み重ねを受け付けるなら 1 回です")
def test_call_counts_are_n_plus_one_two_n_and_one_batched():
    counts = page.wrapper_call_counts()["counts"]
    n = 3
    assert counts["forward", False, False] == (1, n)          # n + 1 in all
    assert counts["central", False, False] == (1, 2 * n)      # 2n for the gradient
    assert counts["forward", True, False] == (1, 1)           # one batched call
    assert counts["central", True, False] == (1, 1)
    assert counts["forward", False, True] == (1, n + 1)       # one more per input feature
    assert counts["central", False, True] == (1, 2 * n + 2)


@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_wrapper_handles_several_input_features_and_leaves_untouched_inputs_alone(scheme):
    def black_box(x, w):                                  # x: 4 samples of 2 features
        return (w[0] * x[:, 0] * x[:, 1] + w[1] * x[:, 1] ** 3) / (1 + x[:, 0] ** 2)

    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.tensor([0.7, -1.3], dtype=torch.float64)
    x_fd, w_fd = x.clone().requires_grad_(), w.clone().requires_grad_()
    page.finite_differences(black_box, scheme)(x_fd, w_fd).square().sum().backward()
    x_ag, w_ag = x.clone().requires_grad_(), w.clone().requires_grad_()
    black_box(x_ag, w_ag).square().sum().backward()
    tolerance = 1e-6 if scheme == "forward" else 1e-9
    torch.testing.assert_close(x_fd.grad, x_ag.grad, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(w_fd.grad, w_ag.grad, rtol=tolerance, atol=tolerance)

    only_w = w.clone().requires_grad_()
    calls = page.CountCalls(black_box)
    page.finite_differences(calls, scheme)(x, only_w).sum().backward()
    assert calls.calls == 1 + (2 if scheme == "forward" else 4)


@claim("finite-differences.md",
       "\\(\\sqrt{\\varepsilon}\\,\\max(1, |w_i|)\\) for forward and \\(\\sqrt[3]{\\varepsilon}\\,\\max(1, |w_i|)\\) for central differences")
@claim("finite-differences.ja.md",
       "\\(\\sqrt{\\varepsilon}\\,\\max(1, |w_i|)\\)、中心差分では \\(\\sqrt[3]{\\varepsilon}\\,\\max(1, |w_i|)\\)")
def test_default_step_scales_with_dtype_and_size():
    for dtype in (torch.float32, torch.float64):
        eps = torch.finfo(dtype).eps
        w = torch.tensor([0.001, 1.0, -50.0], dtype=dtype)
        torch.testing.assert_close(page.default_step(w, "forward"),
                                   math.sqrt(eps) * torch.tensor([1.0, 1.0, 50.0], dtype=dtype))
        torch.testing.assert_close(page.default_step(w, "central"),
                                   eps ** (1 / 3) * torch.tensor([1.0, 1.0, 50.0], dtype=dtype))


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="scheme"):
        page.perturbed(torch.ones(2), "backward")


def test_gradcheck_passes_on_the_central_wrapper():
    """gradcheck agrees, but it only compares differences with differences: hence the tests above."""
    x = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64, requires_grad=True)
    g = page.finite_differences(page.lorentzian_numpy, "central", batched=True)
    assert torch.autograd.gradcheck(g, (x, w), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_second_derivative_is_refused():
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64, requires_grad=True)
    y = page.finite_differences(page.lorentzian)(torch.linspace(-2, 2, 5, dtype=torch.float64), w)
    (grad,) = torch.autograd.grad(y.square().sum(), w, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


# --- safe evaluation of formulas ------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('echo hacked')",
    "__import__",
    "open('/etc/passwd').read()",
    "x.__class__",
    "x.__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "(1).__class__",
    "__builtins__",
    "_secret",
    "secret",
    "eval('1')",
    "exec('x = 1')",
    "getattr(x, 'real')",
    "lambda: 0",
    "(lambda: 0)()",
    "[c for c in (1, 2)]",
    "{c for c in (1, 2)}",
    "{c: c for c in (1, 2)}",
    "(c for c in (1, 2))",
    "import os",
    "from os import system",
    "x = 1",
    "(y := 1)",
    "9**9**9**9",
    "2 ** 1000",
    "x ** -200",
    "'a' * 10**9",
    "b'a'",
    "f'{x}'",
    "True + 1",
    "1j * x",
    "x[0]",
    "x if x else 1",
    "x < 1",
    "x and 1",
    "x @ x",
    "x // 2",
    "x % 2",
    "~1",
    "not x",
    "sin(x, x)",
    "sin(x=1)",
    "sin",
    "sin(*[x])",
    "-" * 990 + "x",
    "(" * 300 + "x" + ")" * 300,
    "x + " * 300 + "x",
    "x" * 1001,
    "",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_safe_eval_refuses_hostile_input(text):
    with pytest.raises(page.FormulaError):
        page.safe_eval(text, {"x": 0.5, "w0": 1.2, "w1": -3.4})


VALID = [
    ("2 * x * w0 + x**2 * w1", 2 * 0.5 * 1.2 + 0.5**2 * -3.4),
    ("-x**2", -0.25),
    ("+x - -w0", 0.5 + 1.2),
    ("(x + 1) / (w0 - 1)", 1.5 / (1.2 - 1)),
    ("2 ** 10", 1024.0),
    ("1e-3 * x", 0.0005),
    ("sqrt(x) * exp(-x) / (1 + x)", math.sqrt(0.5) * math.exp(-0.5) / 1.5),
    ("log(x) + sin(x) + cos(x) + tanh(x)", math.log(0.5) + math.sin(0.5) + math.cos(0.5) + math.tanh(0.5)),
]


@pytest.mark.parametrize("text, expected", VALID)
def test_safe_eval_computes_valid_formulas(text, expected):
    assert page.safe_eval(text, {"x": 0.5, "w0": 1.2, "w1": -3.4}) == pytest.approx(expected, rel=1e-15)


def test_safe_formulas_example_refuses_every_hostile_line():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        page.safe_formulas()
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 3 + 13 + 4
    kinds = [line[43:].split(":")[0] for line in lines[3:]]
    assert all(kind in {"NotAFormula", "NotAllowed", "UnknownName", "TooLarge", "NotComputable"} for kind in kinds)
    assert kinds[-4:] == ["NotComputable"] * 4
    assert "ACCEPTED" not in buffer.getvalue()


@claim("finite-differences.md",
       "This is the gradient that autograd gave for `f` at the top of the page")
@claim("finite-differences.ja.md",
       "これはページの冒頭で autograd が `f` に対して出した勾配です")
def test_formula_on_tensors_gives_autograd_gradients():
    result = page.formula_with_autograd()
    assert torch.equal(result["w_grad"], torch.tensor([2.0, 1.0]))
    x = torch.linspace(-1, 1, 11)
    w = torch.tensor([1.2, -3.4])
    y = page.safe_eval("2 * x * w0 + x**2 * w1", {"x": x, "w0": w[0], "w1": w[1]})
    torch.testing.assert_close(y, page.f(x, w))


def test_eval_demonstrations_reach_what_they_should_not():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        page.eval_is_not_a_sandbox()
    text = buffer.getvalue()
    assert "'hunter2'" in text and "getpid" in text and "BuiltinImporter" in text


@claim("finite-differences.md",
       "The operator gives the same gradient as the `ForwardDifference` Function",
       "Every test succeeds")
@claim("finite-differences.ja.md",
       "演算子は `ForwardDifference` Function と同じ勾配を返します",
       "テストはすべて成功します")
def test_custom_op_gradient_matches_the_function_and_autograd_and_opcheck_passes():
    result = page.custom_op_check()
    exact = torch.tensor([6.0, 5.0], dtype=torch.float64)      # (Σ 2x, Σ x²) at x = (1, 2)
    torch.testing.assert_close(result["w_exact"].grad, exact)
    torch.testing.assert_close(result["w"].grad, exact, rtol=0, atol=1e-8)
    torch.testing.assert_close(result["w"].grad, result["w_function"].grad)
    assert result["report"] == {name: "SUCCESS" for name in (
        "test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")}


def test_opcheck_reports_a_wrong_fake_shape():
    import pytest

    @torch.library.custom_op("autograd_pages_test::wrong_fake", mutates_args=())
    def wrong_fake(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @wrong_fake.register_fake
    def _(x):
        return x.new_empty(x.shape[0] + 1)

    with pytest.raises(Exception):
        torch.library.opcheck(wrong_fake, (torch.ones(3),))


@claim("finite-differences.md",
       "Through the operator the whole loss, finite-difference backward included, compiles",
       "The same loss written with `f_string` directly cannot be captured")
@claim("finite-differences.ja.md",
       "演算子を通せば、有限差分の backward も含めて損失全体がコンパイルでき",
       "同じ損失を `f_string` で直接書くと捕捉できません")
def test_custom_op_compiles_with_fullgraph_and_the_string_version_does_not(capsys):
    result = page.custom_op_compile()
    x = result["x"]
    y = page.f(x, torch.ones(2, dtype=torch.float64))
    exact = torch.stack([(4 * x * y).sum(), (2 * x**2 * y).sum()])
    torch.testing.assert_close(result["w"].grad, exact, rtol=0, atol=1e-6)
    assert exact.tolist() == [76.0, 70.0]
    out = capsys.readouterr().out
    assert "compiled, f_string: Unsupported:" in out


VARIABLES = {"x": 0.5, "w0": 1.2, "w1": -3.4}


@pytest.mark.parametrize("text, kind, column", [
    ("1 + x.real", page.NotAllowed, 5),
    ("w0 * secret", page.UnknownName, 6),
    ("2 * (x +", page.NotAFormula, None),
    (None, page.NotAFormula, None),
    ("1 / (x - x)", page.NotComputable, 1),
    ("2 * log(x - x)", page.NotComputable, 5),
    ("sqrt(-1)", page.NotComputable, 1),
    ("(-8) ** (1 / 3)", page.NotComputable, 1),       # Python would give a complex number
    ("(9 ** 100) ** 100", page.NotComputable, 1),     # Python would raise OverflowError
    ("1e308 * 10", page.NotComputable, 1),            # Python would give inf
    ("x ** 101", page.TooLarge, 1),
])
@claim("finite-differences.md",
       "Each refusal is a subclass of its own, and names the column where the formula went wrong")
@claim("finite-differences.ja.md",
       "拒否の理由ごとに専用のサブクラスがあり、数式のどの列で問題が起きたかを示します")
def test_every_refusal_has_its_own_type_and_position(text, kind, column):
    with pytest.raises(kind) as refused:
        page.safe_eval(text, VARIABLES)
    if column is not None:
        assert refused.value.column == column and str(refused.value).endswith(f"(column {column})")


def test_results_are_real_numbers_only():
    assert isinstance(page.safe_eval("(8) ** (1 / 3)", VARIABLES), float)
    assert page.safe_eval("(8) ** (1 / 3)", VARIABLES) == pytest.approx(2.0)


@pytest.mark.parametrize("limit, at_limit, over", [
    ("MAX_LENGTH", "x" + " " * 999, "x" + " " * 1000),
    ("MAX_TERMS", "+".join(["x"] * 200), "+".join(["x"] * 201)),
    ("MAX_DEPTH", "-" * 50 + "x", "-" * 51 + "x"),
    ("MAX_EXPONENT", "x ** 100", "x ** 101"),
])
@claim("finite-differences.md",
       "Four limits are stated at the top and enforced one by one")
@claim("finite-differences.ja.md",
       "冒頭に 4 つの上限を定め、それぞれを個別に確かめます")
def test_each_size_limit_is_stated_and_enforced_on_its_own(limit, at_limit, over):
    assert {"MAX_LENGTH": 1000, "MAX_TERMS": 200, "MAX_DEPTH": 50, "MAX_EXPONENT": 100}[limit] == getattr(page, limit)
    page.safe_eval(at_limit, VARIABLES)
    with pytest.raises(page.TooLarge):
        page.safe_eval(over, VARIABLES)


@claim("finite-differences.md",
       "a chain such as `a + b - c` counts as one level, so a long sum is not deep")
@claim("finite-differences.ja.md",
       "`a + b - c` のような連なりは 1 段と数えるので、長い和は深い入れ子になりません")
def test_a_long_flat_sum_is_not_deep_nesting():
    assert page.safe_eval(" + ".join(["x"] * 52), VARIABLES) == 26.0
    assert page.safe_eval(" * ".join(["w0"] * 52), VARIABLES) == pytest.approx(1.2 ** 52)


# --- what backward pays for, the Functions' form, torch.func, the operator's device ---------



@claim("finite-differences.md",
       "`ctx.needs_input_grad` says which inputs of `forward` required grad when forward ran, not what the current backward call asks for.",
       "yet with `x` requiring grad `backward` still sees `(True, True)` and pays the call for the input gradient, the same as `loss.backward()`")
@claim("finite-differences.ja.md",
       "`ctx.needs_input_grad` が示すのは、順伝播を実行した時点で `forward` のどの入力が勾配を必要としていたかであって、いま実行中の backward の呼び出しが何を求めているかではありません。",
       "`x` が勾配を必要としていれば `backward` には `(True, True)` が見え、`loss.backward()` のときと同じく入力の勾配のための呼び出しを払います")
def test_backward_pays_for_what_required_grad_not_for_what_was_asked():
    counts = page.wrapper_needs_input_grad()["counts"]
    n = 3
    assert counts[False, "loss.backward()"] == ((False, True), n)
    assert counts[False, "grad(loss, w)"] == ((False, True), n)
    assert counts[True, "loss.backward()"] == ((True, True), n + 1)
    assert counts[True, "grad(loss, w)"] == ((True, True), n + 1)


@claim("finite-differences.md", "pass `x.detach()` to the wrapper: that is the first two rows")
@claim("finite-differences.ja.md", "ラッパーに `x.detach()` を渡してください。表の最初の 2 行がそれに当たります")
def test_a_detached_x_costs_only_the_weights_and_autograd_grad_returns_only_w():
    x = torch.linspace(-2, 2, 50, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64, requires_grad=True)
    calls = page.CountCalls(page.lorentzian)
    y = page.finite_differences(calls, "forward")(x.detach(), w)
    before = calls.calls
    (grad_w,) = torch.autograd.grad(y.sum(), w)
    assert calls.calls - before == 3 and y.grad_fn.needs_input_grad[1:3] == (False, True)
    assert x.grad is None and grad_w.shape == w.shape


@claim("finite-differences.md", "The node autograd records for a Function is its `ctx`")
@claim("finite-differences.ja.md", "autograd が Function に対して記録するノードはその `ctx` そのもの")
def test_the_grad_fn_is_the_ctx_that_backward_sees():
    seen = []

    class Probe(page.FiniteDifferences):
        @staticmethod
        def backward(ctx, grad_y):
            seen.append(ctx)
            return page.FiniteDifferences.backward(ctx, grad_y)

    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64, requires_grad=True)
    y = Probe.apply(page.lorentzian, torch.linspace(-2, 2, 5, dtype=torch.float64), w, "central", False)
    y.sum().backward()
    assert seen == [y.grad_fn]


def _combined_form_copy():
    """FiniteDifferences as it was, forward(ctx, ...): what torch.func refuses."""
    class Combined(torch.autograd.Function):
        @staticmethod
        def forward(ctx, f, x, w):
            ctx.f = f
            ctx.save_for_backward(x, w)
            return f(x, w)

        @staticmethod
        def backward(ctx, grad_y):
            x, w = ctx.saved_tensors
            return None, None, page.weight_gradient(ctx.f, x, w, None, grad_y)
    return Combined


@claim("finite-differences.md", "It has the separate `setup_context`, which `torch.func` requires of a Function")
@claim("finite-differences.ja.md", "`torch.func` が Function に求める、分離した `setup_context`")
def test_both_functions_have_setup_context_and_torch_func_refuses_the_combined_form():
    for function in (page.ForwardDifference, page.FiniteDifferences):
        assert function.setup_context is not torch.autograd.Function.setup_context
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="setup_context"):
        torch.func.grad(lambda w: _combined_form_copy().apply(page.lorentzian, x, w).sum())(w)
    # the page's own Function with its own black box runs under torch.func.grad
    x2 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    grad = torch.func.grad(lambda w: page.ForwardDifference.apply(page.f_string, x2, w).sum())(
        torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(grad, torch.tensor([6.0, 5.0], dtype=torch.float64), rtol=0, atol=1e-8)


@claim("finite-differences.md",
       "`torch.func.grad` gives exactly the gradient of `loss.backward()`",
       "each within \\(10^{-8}\\) (relative) of autograd on the PyTorch twin")
@claim("finite-differences.ja.md",
       "`torch.func.grad` は `loss.backward()` とまったく同じ勾配を返し",
       "どれも PyTorch の双子に対する autograd との相対差が \\(10^{-8}\\) 未満です")
def test_torch_func_grad_and_vmap_run_the_wrapper_on_a_torch_black_box():
    result = page.wrapper_under_torch_func()
    assert result["same"]
    assert result["per_batch"].shape == (3, 3)
    assert result["error"] < 1e-8
    # three different batches: three different gradients, not one repeated
    assert not torch.allclose(result["per_batch"][0], result["per_batch"][1])


@claim("finite-differences.md",
       "Under `torch.func.grad`, `backward` receives `torch.func`'s wrapper tensors, which have no memory of their own for `.numpy()` to hand over, and the call raises")
@claim("finite-differences.ja.md",
       "`torch.func.grad` の下では `backward` が `torch.func` のラッパーテンソルを受け取り、これには `.numpy()` が渡せる自前のメモリがないので、呼び出しはエラーになります")
def test_a_numpy_black_box_fails_under_torch_func_in_backward():
    assert "doesn't have storage" in page.wrapper_under_torch_func()["numpy_message"]
    wrapped = []

    def probe(x, w):
        wrapped.append(torch._C._functorch.is_functorch_wrapped_tensor(w))
        return page.lorentzian(x, w)

    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    w = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)
    torch.func.grad(lambda w: page.finite_differences(probe, "central", batched=True)(x, w).sum())(w)
    assert wrapped == [False, True]            # forward: a plain tensor; backward: a wrapper
    with pytest.raises(RuntimeError, match="storage"):
        torch.func.vmap(lambda x: page.finite_differences(page.lorentzian_numpy)(x, w))(x[None])


@claim("finite-differences.md",
       "without `once_differentiable`, a second derivative taken through it would come out wrong, with no error.",
       "With it, the attempt raises an error.")
@claim("finite-differences.ja.md",
       "`once_differentiable` がなければ、これを通した 2 階微分はエラーもなく間違った値になります。",
       "付けておけば、その試みはエラーになります。")
def test_without_once_differentiable_the_second_derivative_is_silently_wrong():
    class Unmarked(page.FiniteDifferences):
        backward = staticmethod(page.FiniteDifferences.backward.__wrapped__)

    x = torch.linspace(-2, 2, 50, dtype=torch.float64)
    w0 = torch.tensor([1.5, 0.3, 0.8], dtype=torch.float64)

    def hessian_through(function):
        w = w0.clone().requires_grad_()
        loss = ((function(x, w) - 1) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, w, create_graph=True)
        return torch.stack([torch.autograd.grad(g, w, retain_graph=True)[0] for g in grad])

    wrong = hessian_through(lambda x, w: Unmarked.apply(page.lorentzian, x, w, "central", False))
    exact = torch.autograd.functional.hessian(lambda w: ((page.lorentzian(x, w) - 1) ** 2).mean(), w0)
    assert (wrong - exact).abs().max() > 1e-2 * exact.abs().max()      # far beyond the differences' error
    w = w0.clone().requires_grad_()
    loss = ((page.finite_differences(page.lorentzian)(x, w) - 1) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, w, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


@claim("finite-differences.md", "a second derivative through it raises an error")
@claim("finite-differences.ja.md", "これを通した 2 階微分はエラーになります")
def test_forward_difference_refuses_a_second_derivative():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    y = page.ForwardDifference.apply(page.f_string, x, w)
    (grad,) = torch.autograd.grad(y.square().sum(), w, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


def _fake_and_real(x, w):
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    with mode:
        fake = page.string_model(mode.from_tensor(x), mode.from_tensor(w))
    return fake, page.string_model(x, w)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@claim("finite-differences.md", "the operator moves it to the device of `x`, which is what the fake says it returns")
@claim("finite-differences.ja.md", "演算子はそれを `x` のデバイスへ移します。fake が返すと言っているのもそのデバイスです")
def test_the_fake_and_the_real_kernel_agree_in_device_shape_and_dtype(device, dtype):
    x = torch.tensor([1.0, 2.0, -0.5], dtype=dtype, device=device)
    w = torch.tensor([1.2, -3.4], dtype=dtype, device=device)
    fake, real = _fake_and_real(x, w)
    assert (fake.device, fake.shape, fake.dtype) == (real.device, real.shape, real.dtype)
    assert real.device == x.device
    torch.testing.assert_close(real, page.f(x, w))


def test_the_fake_promises_the_device_of_x_on_a_device_this_machine_may_lack():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(3, dtype=torch.float64, device="cuda")
        y = page.string_model(x, torch.empty(2, dtype=torch.float64, device="cuda"))
    assert y.device.type == "cuda" and y.shape == (3,) and y.dtype == torch.float64


@claim("finite-differences.md",
       "real one in shape, dtype and device",
       "On CPU inputs, as here, it would also pass a kernel that always returns a CPU tensor with a fake that promises the device of `x`")
@claim("finite-differences.ja.md",
       "形状・dtype・デバイスについて本物と一致するか",
       "ここでのように CPU の入力で確かめる限り、常に CPU のテンソルを返すカーネルと、`x` のデバイスを返すと約束する fake の組み合わせでも通ってしまいます")
def test_opcheck_compares_device_but_only_on_the_inputs_it_is_given():
    @torch.library.custom_op("autograd_pages_test::always_cpu", mutates_args=())
    def always_cpu(x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(x.tolist(), dtype=x.dtype)        # CPU, wherever x is

    @always_cpu.register_fake
    def _(x):
        return x.new_empty(x.shape)                           # x's device

    torch.library.opcheck(always_cpu, (torch.ones(3),), test_utils="test_faketensor")

    @torch.library.custom_op("autograd_pages_test::wrong_device", mutates_args=())
    def wrong_device(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @wrong_device.register_fake
    def _(x):
        return torch.empty(x.shape, dtype=x.dtype, device="cuda")

    with pytest.raises(Exception, match="[Dd]evice"):
        torch.library.opcheck(wrong_device, (torch.ones(3),), test_utils="test_faketensor")


@claim("finite-differences.md",
       "Autograd gets the gradient of every weight from one forward and one backward pass, whatever \\(n\\) is")
@claim("finite-differences.ja.md",
       "autograd なら、\\(n\\) がいくつであっても、順伝播 1 回と逆伝播 1 回ですべての重みの勾配が得られます")
@pytest.mark.parametrize("n", [2, 1000])
def test_autograd_gets_every_weight_from_one_pass_whatever_n(n):
    x = torch.linspace(0, 1, 10, dtype=torch.float64)
    w = torch.linspace(-1, 1, n, dtype=torch.float64, requires_grad=True)
    powers = torch.arange(n, dtype=torch.float64)
    model = page.CountCalls(lambda x, w: (w * x[:, None] ** powers).sum(dim=1))
    backward_calls = []
    y = model(x, w)
    y.grad_fn.register_hook(lambda *grads: backward_calls.append(1))
    y.sum().backward()
    assert model.calls == 1 and len(backward_calls) == 1
    torch.testing.assert_close(w.grad, (x[:, None] ** powers).sum(dim=0))


@claim("finite-differences.md",
       "An input gradient adds one call per feature for the forward scheme and two for the central one, whatever the batch size")
@claim("finite-differences.ja.md",
       "入力に対する勾配は、バッチサイズによらず、特徴量ごとに前進差分で 1 回、中心差分で 2 回の呼び出しが加わります")
@pytest.mark.parametrize("scheme, per_feature", [("forward", 1), ("central", 2)])
@pytest.mark.parametrize("batch", [4, 64])
def test_the_input_gradient_costs_calls_per_feature_not_per_sample(scheme, per_feature, batch):
    def black_box(x, w):                                  # 3 features a sample
        return (x * w).sum(dim=1)

    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    x = torch.randn(batch, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    calls = page.CountCalls(black_box)
    page.finite_differences(calls, scheme)(x, w).sum().backward()
    assert calls.calls == 1 + 3 * per_feature
    torch.testing.assert_close(x.grad, w.expand(batch, 3), rtol=1e-6, atol=1e-6)
