"""Examples of the page "Hooks, saved tensors and memory" (docs/hooks-and-memory.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_hooks_and_memory.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import torch
from torch import nn
from torch.autograd.graph import save_on_cpu, saved_tensors_hooks
from torch.utils.checkpoint import checkpoint

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


@example
def tensor_hooks():
    """A tensor hook sees (and may replace) a gradient; a post-accumulate
    hook sees the leaf once its .grad is final."""
    # --8<-- [start:tensor_hooks]
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    y = x * 3                                   # an intermediate tensor
    z = (y**2).sum()

    def show(grad):
        print("gradient arriving at y:", grad)  # dz/dy = 2y = 6x

    def halve(grad):
        return grad / 2                         # a returned tensor replaces it

    def after_accumulation(leaf):
        print("x.grad once accumulated:", leaf.grad)

    y.register_hook(show)
    y.register_hook(halve)                      # hooks run in order
    x.register_post_accumulate_grad_hook(after_accumulation)
    z.backward()
    print("x.grad:", x.grad, "= 3 · 6x / 2")
    # --8<-- [end:tensor_hooks]
    return {"x": x, "y": y.detach()}


@example
def module_hooks():
    """A forward pre-hook sees the inputs; a full backward hook sees the
    gradients with respect to a module's inputs and outputs."""
    # --8<-- [start:module_hooks]
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)

    def clip_inputs(module, args):              # before forward runs
        (inputs,) = args
        return (inputs.clamp(-1, 1),)           # replaces the inputs

    def show_gradients(module, grad_input, grad_output):
        print("grad_output shape:", tuple(grad_output[0].shape))
        print("grad_input shape :", tuple(grad_input[0].shape))

    pre = layer.register_forward_pre_hook(clip_inputs)
    back = layer.register_full_backward_hook(show_gradients)
    out = layer(x)
    out.sum().backward()
    pre.remove()
    back.remove()                               # hooks stay until removed

    inside = (x.detach().abs() <= 1)
    print("x.grad is zero where the input was clipped:",
          bool((x.grad[~inside] == 0).all()))
    # --8<-- [end:module_hooks]
    return {"x": x, "layer": layer, "out": out.detach()}


@example
def saved_attributes():
    """What a node of the graph keeps for its backward: grad_fn._saved_*."""
    # --8<-- [start:saved_attributes]
    x = torch.tensor([1., 2.], requires_grad=True)
    w = torch.tensor([3., 4.], requires_grad=True)

    product = x * w                             # d/dx needs w, d/dw needs x
    exponential = x.exp()                       # d/dx exp(x) = exp(x)
    summed = x + w                              # needs nothing
    for y in (product, exponential, summed):
        node = y.grad_fn
        saved = [a for a in dir(node) if a.startswith("_saved_")]
        print(f"{type(node).__name__:10}", saved)

    print("_saved_self is x:", product.grad_fn._saved_self is x)
    print("_saved_result shares the output's memory:",
          exponential.grad_fn._saved_result.data_ptr()
          == exponential.data_ptr())
    # --8<-- [end:saved_attributes]
    return {"product": product, "exponential": exponential,
            "summed": summed, "x": x, "w": w}


# --8<-- [start:count_saved_bytes]
def saved_bytes(function, *inputs, parameters=()):
    """Call function(*inputs); count what autograd saves for backward, two ways.

    packed adds up every tensor passing through the pack hook. kept adds up
    the distinct storages behind them, parameters excluded (they exist anyway):
    the memory the graph alone holds until backward.

    Examples:
        >>> x = torch.ones(10, requires_grad=True)
        >>> saved_bytes(lambda x: x.exp(), x)[1:]   # exp saves its result
        (40, 40)
        >>> saved_bytes(lambda x: x * x, x)[1:]     # x twice, one storage
        (80, 40)
    """
    packed, storages = 0, {}
    excluded = {p.untyped_storage().data_ptr() for p in parameters}

    def pack(tensor):
        nonlocal packed
        packed += tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()      # a view keeps all of it
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor                           # keep it as it is

    def unpack(tensor):
        return tensor

    with saved_tensors_hooks(pack, unpack):
        output = function(*inputs)
    return output, packed, sum(storages.values())
# --8<-- [end:count_saved_bytes]


# --8<-- [start:mlp]
def mlp(width=256, depth=4):
    """A stack of Linear + Tanh blocks, seeded.

    Examples:
        >>> len(mlp(8, 3))
        3
    """
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Tanh())
                           for _ in range(depth)])
# --8<-- [end:mlp]


@example
def count_saved():
    """Count what one forward pass of a network keeps for backward: the
    bytes the pack hook sees, and the memory they really hold."""
    # --8<-- [start:count_saved]
    model = mlp()
    torch.manual_seed(1)
    batch = torch.randn(64, 256)
    one_activation = 64 * 256 * 4               # float32: 4 bytes each

    _, packed, kept = saved_bytes(model, batch,
                                  parameters=model.parameters())
    print(f"through the pack hook: {packed:9,} bytes,",
          packed // one_activation, "activations")
    print(f"kept beyond the model: {kept:9,} bytes,",
          kept // one_activation, "activations")
    with torch.no_grad():
        _, packed, kept = saved_bytes(model, batch)
    print(f"under no_grad        : {packed:9,} bytes, {kept:,} kept")
    # --8<-- [end:count_saved]
    return {"model": model, "batch": batch}


@example
def on_cpu():
    """save_on_cpu moves what is saved to CPU memory; the gradient is unchanged."""
    # --8<-- [start:on_cpu]
    model = mlp()
    torch.manual_seed(1)
    batch = torch.randn(64, 256)

    model(batch).square().mean().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    with save_on_cpu(pin_memory=False):         # on a GPU: saved tensors
        loss = model(batch).square().mean()     # wait in CPU memory
    loss.backward()
    same = all(torch.equal(a, p.grad)
               for a, p in zip(plain, model.parameters()))
    print("same gradients with save_on_cpu:", same)
    # --8<-- [end:on_cpu]
    return {"same": same}


# --8<-- [start:wide_blocks]
def wide_blocks(width=256, hidden=1024, depth=4):
    """Blocks that widen, apply GELU and narrow again (a transformer's
    feed-forward part), seeded: each keeps far more than its input.

    Examples:
        >>> wide_blocks(8, 32, 2)[0][0]
        Linear(in_features=8, out_features=32, bias=True)
    """
    torch.manual_seed(0)
    return nn.Sequential(*[
        nn.Sequential(nn.Linear(width, hidden), nn.GELU(),
                      nn.Linear(hidden, width))
        for _ in range(depth)])
# --8<-- [end:wide_blocks]


@example
def checkpointing():
    """Checkpointing keeps only each block's input and pays with a second forward."""
    # --8<-- [start:checkpointing]
    model = wide_blocks()
    torch.manual_seed(1)
    batch = torch.randn(64, 256, requires_grad=True)
    one_activation = 64 * 256 * 4
    calls = {"forward": 0}

    def count(module, args):                    # as each forward starts
        calls["forward"] += 1

    for block in model:
        block.register_forward_pre_hook(count)

    def plain(x):
        return model(x)

    def checkpointed(x):
        for block in model:                     # each block recomputed
            x = checkpoint(block, x, use_reentrant=False)
        return x

    results = {}
    for name, run in [("plain", plain), ("checkpointed", checkpointed)]:
        calls["forward"] = 0
        batch.grad = None
        model.zero_grad()
        output, _, kept = saved_bytes(run, batch,
                                      parameters=model.parameters())
        output.square().mean().backward()
        results[name] = [batch.grad.clone()] + [
            p.grad.clone() for p in model.parameters()]
        print(f"{name:12}: {kept:9,} bytes kept",
              f"({kept // one_activation:2} activations),",
              f"{calls['forward']} block forwards")

    same = all(torch.equal(a, b) for a, b in
               zip(results["plain"], results["checkpointed"]))
    print("same gradients:", same)
    # --8<-- [end:checkpointing]
    return {"model": model, "batch": batch, "results": results, "same": same}


@example
def where_trap():
    """where() picks a value but not a gradient: 0·inf = nan."""
    # --8<-- [start:where_trap]
    x = torch.tensor([0., 1., 4.], requires_grad=True)

    y = torch.where(x > 0, torch.sqrt(x), 0.)   # sqrt still runs at 0
    y.sum().backward()
    print("one where :", x.grad)

    x.grad = None
    safe = torch.where(x > 0, x, 1.)            # 1 is any harmless value
    y = torch.where(x > 0, torch.sqrt(safe), 0.)
    y.sum().backward()
    print("two wheres:", x.grad)
    # --8<-- [end:where_trap]
    return {"x": x, "y": y.detach()}


@example
def eval_no_grad_inference():
    """eval() changes layers; no_grad and inference_mode stop recording."""
    # --8<-- [start:eval_no_grad_inference]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = torch.ones(2, 4)

    def describe(label, out, again):
        print(f"{label:15} requires_grad={out.requires_grad!s:5}",
              f"repeatable={torch.equal(out, again)!s:5}",
              f"inference={out.is_inference()}")

    model.train()
    describe("train()", model(x), model(x))
    with torch.no_grad():
        describe("train, no_grad", model(x), model(x))
    model.eval()
    describe("eval()", model(x), model(x))
    with torch.no_grad():
        describe("eval, no_grad", model(x), model(x))
    with torch.inference_mode():
        served = model(x)
        describe("eval, inference", served, model(x))

    w = torch.ones(4, requires_grad=True)
    (served + w).sum().backward()               # + saves neither input
    print("w.grad after (served + w).sum().backward():", w.grad)
    try:
        (served * w).sum().backward()           # * saves served for w's grad
    except RuntimeError as error:
        print("RuntimeError:", error)
    # --8<-- [end:eval_no_grad_inference]
    return {"model": model, "served": served, "w": w}
