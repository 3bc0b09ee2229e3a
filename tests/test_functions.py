"""Every ``torch.autograd.Function`` the pages define, checked by the same rules: it is
differentiable twice (``gradgradcheck``) or its backward is ``once_differentiable`` with the
reason on its page; it keeps no graph alive; and the copy-ready ones (derivative recipes, the
finite-difference wrapper) are in ``setup_context`` form and run under ``torch.func``.
A new Function fails the first test here until it is registered in ``SITE_FUNCTIONS``."""

import gc
import importlib
import inspect
import weakref
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from claims import claim

from snippets import derivative_recipes as recipes
from snippets.pipeline.examples import page_modules


def _x(*shape, seed=0):
    """Float64 values in [0.1, 1.1): away from the kinks (0) of the recipes."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, dtype=torch.float64, generator=generator) + 0.1


def _line(x, w):
    """A black box of the finite-differences page's shape: samples along x, weights w."""
    return 2 * x * w[0] + x**2 * w[1]


SAMPLES = _x(4, seed=9)


@dataclass(frozen=True)
class Use:
    """How to call a Function: ``call(F, *tensors)``, with float64 tensors of these shapes
    (the inputs it is differentiated by; any other argument is fixed inside ``call``)."""

    call: Callable
    shapes: tuple

    def inputs(self, requires_grad=True):
        return tuple(_x(*shape, seed=i).requires_grad_(requires_grad)
                     for i, shape in enumerate(self.shapes))


SITE_FUNCTIONS = {
    "custom_function.ScaledTanh": Use(lambda F, x: F.apply(x), ((3,),)),
    "custom_function.RepeatActivation": Use(lambda F, x: F.apply(x, 2, "tanh"), ((3,),)),
    "custom_function.SinCos": Use(lambda F, x: F.apply(x), ((3,),)),
    "custom_function.ScaledTanhWrongBackward": Use(lambda F, x: F.apply(x), ((3,),)),
    "custom_function.ScaledTanhModern": Use(lambda F, x: F.apply(x, torch.tensor(4.0)), ((3,),)),
    "custom_function.NumpyScaledTanh": Use(lambda F, x: F.apply(x), ((3,),)),
    "custom_function.MaxWithIndex": Use(lambda F, x: F.apply(x)[0], ((2, 3),)),
    "derivative_recipes.StableSoftplus": Use(lambda F, x: F.apply(x), ((3,),)),
    "derivative_recipes.RMSE": Use(lambda F, p, t: F.apply(p, t), ((3,), (3,))),
    "derivative_recipes.ClipGradient": Use(lambda F, x: F.apply(x, 1.0), ((3,),)),
    "derivative_recipes.RoundSTE": Use(lambda F, x: F.apply(x), ((3,),)),
    "derivative_recipes.FixedPoint": Use(lambda F, x, W: F.apply(x, 0.1 * W), ((4,), (4, 4))),
    "derivative_recipes.CentralDifference": Use(lambda F, w: F.apply(recipes.simulator, w, 1e-6), ((3,),)),
    "derivative_recipes.SPSA": Use(lambda F, w: F.apply(recipes.Bowl(3), w, 0.01), ((3,),)),
    "derivative_recipes.ForwardDifference": Use(lambda F, w: F.apply(recipes.Bowl(3), w, 1e-6), ((3,),)),
    "forward_mode.Swish": Use(lambda F, x: F.apply(x), ((3,),)),
    "finite_differences.ForwardDifference": Use(lambda F, w: F.apply(_line, SAMPLES, w), ((2,),)),
    "finite_differences.FiniteDifferences":
        Use(lambda F, w: F.apply(_line, SAMPLES, w, "central", False), ((2,),)),
}


def _site_functions() -> dict:
    """Every autograd.Function subclass defined at the top level of a page module."""
    found = {}
    for name in page_modules():
        module = importlib.import_module(f"snippets.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, torch.autograd.Function) and cls.__module__ == module.__name__:
                found[f"{name}.{cls_name}"] = cls
    return found


FUNCTIONS = _site_functions()


def _once_differentiable(function) -> bool:
    """The decorator wraps backward with functools.wraps, which leaves ``__wrapped__``."""
    return hasattr(function.backward, "__wrapped__")


def _page_of(name: str) -> str:
    return name.split(".")[0].replace("_", "-") + ".md"


TWICE = sorted(name for name, F in FUNCTIONS.items() if not _once_differentiable(F))
ONCE = sorted(name for name, F in FUNCTIONS.items() if _once_differentiable(F))


def test_every_function_of_the_site_is_registered_here():
    assert sorted(FUNCTIONS) == sorted(SITE_FUNCTIONS)
    assert len(TWICE) >= 10 and len(ONCE) >= 5


# --- differentiable twice, or once_differentiable for a stated reason -----------------------

@pytest.mark.parametrize("name", TWICE)
def test_a_function_not_marked_once_differentiable_passes_gradgradcheck(name):
    use = SITE_FUNCTIONS[name]
    assert torch.autograd.gradgradcheck(lambda *tensors: use.call(FUNCTIONS[name], *tensors), use.inputs())


@claim("custom-function.md", "Decorating it with `torch.autograd.function.once_differentiable` says so: backward runs with gradient recording off, and a later attempt at a second derivative raises an error instead of silently returning a wrong one.")
@claim("finite-differences.md", "`backward` is marked `once_differentiable`, because its slopes come from calls of `f_string`, which records nothing: a second derivative through it raises an error")
@claim("derivative-recipes.md", "The backward is marked `once_differentiable`: it only calls \\(f\\), which autograd cannot see into, so there is no derivative of the gradient to record. Asked for one, PyTorch raises an error instead of returning a wrong value")
@pytest.mark.parametrize("name", ONCE)
def test_a_once_differentiable_function_refuses_a_second_derivative_for_a_reason_on_its_page(name):
    use = SITE_FUNCTIONS[name]
    inputs = use.inputs()
    loss = (use.call(FUNCTIONS[name], *inputs) ** 2).sum()    # so that grad_output needs grad too
    gradients = torch.autograd.grad(loss, inputs, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        sum(g.sum() for g in gradients).backward()     # grad() would call the inputs unused
    reasons = [page for page, _ in test_a_once_differentiable_function_refuses_a_second_derivative_for_a_reason_on_its_page.claims]
    assert _page_of(name) in reasons, f"{name} is once_differentiable; quote its page's reason above"


# --- no Function keeps its graph alive ------------------------------------------------------

def _graph_outlives_its_output(call, function):
    """Run the Function, drop every reference to its result, and say whether the node survived.

    Reference counting alone frees an acyclic graph at once; automatic collection is switched off,
    so a node kept by a reference cycle stays alive."""
    gc.disable()
    try:
        out = call(function)
        first = out[0] if isinstance(out, tuple) else out
        node = weakref.ref(first.grad_fn)
        del out, first
        return node() is not None
    finally:
        gc.enable()


class _LeakyIdentity(torch.autograd.Function):
    """What the rule forbids: the output on the ctx of its own grad_fn."""

    @staticmethod
    def forward(ctx, x):
        y = x * 1
        ctx.y = y
        return y

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y


def test_the_leak_detector_sees_an_output_kept_on_ctx():
    assert _graph_outlives_its_output(lambda F: F.apply(_x(3).requires_grad_()), _LeakyIdentity)
    gc.collect()                                      # the cycle it made, cleaned up


@pytest.mark.parametrize("name", sorted(SITE_FUNCTIONS))
def test_no_function_keeps_its_graph_alive_after_the_last_reference_goes(name):
    use = SITE_FUNCTIONS[name]
    assert not _graph_outlives_its_output(lambda F: use.call(F, *use.inputs()), FUNCTIONS[name])


# --- the copy-ready Functions under torch.func ------------------------------------------------

COPY_READY = sorted(name for name in FUNCTIONS if name.startswith("derivative_recipes.")) + [
    "finite_differences.FiniteDifferences"]
# what the pages say these do not support, and why (quoted below)
NO_GRAD = {"derivative_recipes.SPSA", "derivative_recipes.ForwardDifference"}   # NumPy Bowl
NO_VMAP = {"derivative_recipes.FixedPoint", "derivative_recipes.CentralDifference",
           "derivative_recipes.SPSA", "derivative_recipes.ForwardDifference"}


@pytest.mark.parametrize("name", COPY_READY)
def test_a_copy_ready_function_is_in_setup_context_form(name):
    assert "setup_context" in vars(FUNCTIONS[name]), f"{name}: forward(ctx, ...) cannot run under torch.func"


@claim("derivative-recipes.md", "Under `torch.func`, `grad` gets through these `Function`s as far as the black box lets it: the torch-coded `simulator` does, while the NumPy `Bowl` below cannot read the tensors `torch.func` passes to `backward`.")
@pytest.mark.parametrize("name", COPY_READY)
def test_torch_func_grad_agrees_with_autograd_where_the_page_says_it_runs(name):
    use, function = SITE_FUNCTIONS[name], FUNCTIONS[name]
    inputs = use.inputs(requires_grad=False)
    summed = lambda *tensors: use.call(function, *tensors).sum()
    by_func = lambda: torch.func.grad(summed, argnums=tuple(range(len(inputs))))(*inputs)
    if name in NO_GRAD:
        with pytest.raises(RuntimeError, match="storage"):
            by_func()
        return
    tracked = use.inputs()
    by_autograd = torch.autograd.grad(summed(*tracked), tracked)
    torch.testing.assert_close(by_func(), by_autograd)


@claim("derivative-recipes.md", "None of them defines a `vmap` rule.", "It has no `vmap` rule: the loop stops when the iterate settles")
@pytest.mark.parametrize("name", COPY_READY)
def test_torch_vmap_agrees_with_a_loop_where_the_page_says_it_runs(name):
    use, function = SITE_FUNCTIONS[name], FUNCTIONS[name]
    batches = [use.inputs(requires_grad=False) for _ in range(3)]
    batches = [tuple(t + 0.1 * k for t in inputs) for k, inputs in enumerate(batches)]
    stacked = [torch.stack(column) for column in zip(*batches)]
    batched = lambda: torch.func.vmap(lambda *tensors: use.call(function, *tensors))(*stacked)
    if name in NO_VMAP:
        with pytest.raises(RuntimeError, match="vmap"):
            batched()
        return
    one_by_one = torch.stack([use.call(function, *inputs) for inputs in batches])
    torch.testing.assert_close(batched(), one_by_one)


@claim("derivative-recipes.md", "`torch.vmap` cannot batch that test (`torch.allclose`)")
def test_fixed_point_with_a_generated_vmap_rule_stops_at_its_allclose():
    class Batched(recipes.FixedPoint):
        generate_vmap_rule = True

    x, W = _x(3, 4), 0.1 * _x(4, 4)
    with pytest.raises(RuntimeError, match="allclose"):
        torch.func.vmap(lambda row: Batched.apply(row, W))(x)
