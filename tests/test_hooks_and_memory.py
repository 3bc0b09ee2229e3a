"""The truths each example of "Hooks, saved tensors and memory" must show, on its real result."""

import gc
import warnings
import weakref

import pytest
import torch
from torch import nn

from claims import claim
from snippets import hooks_and_memory as page

ACTIVATION = 64 * 256 * 4                # one 64 x 256 float32 activation, in bytes


@claim("hooks-and-memory.md", "return a tensor that replaces the gradient for everything upstream")
@claim("hooks-and-memory.ja.md", "テンソルを返して、それより上流すべてに渡る勾配を置き換えることもできます")
def test_tensor_hook_halves_the_gradient_that_reaches_the_leaf():
    result = page.tensor_hooks()
    x = result["x"]
    # z = sum((3x)²): dz/dx = 18x, halved by the hook on y
    torch.testing.assert_close(x.grad, 9 * x.detach())
    torch.testing.assert_close(result["y"], 3 * x.detach())


@claim("hooks-and-memory.md", "Several hooks on one tensor run in the order they were registered.")
@claim("hooks-and-memory.ja.md", "1 つのテンソルに複数のフックを登録すると、登録した順に実行されます。")
def test_hooks_on_one_tensor_run_in_the_order_registered():
    seen = []
    for order in ("look, halve", "halve, look"):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        hooks = {"look": lambda g: seen.append((order, g.clone())), "halve": lambda g: g / 2}
        for name in order.split(", "):
            y.register_hook(hooks[name])
        (y**2).sum().backward()
    (first, before), (second, after) = seen
    assert torch.equal(before, torch.tensor([6.0, 12.0]))       # registered first: not halved yet
    assert torch.equal(after, torch.tensor([3.0, 6.0]))         # registered after halve


@claim("hooks-and-memory.md", "runs later, after the gradient has been added into `.grad`, and receives the tensor itself")
@claim("hooks-and-memory.ja.md", "勾配が `.grad` に加算された後に実行され、テンソル自身を受け取ります")
def test_post_accumulate_hook_sees_the_final_grad(capsys):
    page.tensor_hooks()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gradient arriving at y: tensor([ 6., 12., 18.])")
    assert lines[1] == "x.grad once accumulated: tensor([ 9., 18., 27.])"
    x = torch.tensor([1.0], requires_grad=True)
    x.grad = torch.tensor([10.0])
    received = []
    x.register_post_accumulate_grad_hook(lambda leaf: received.append((leaf, leaf.grad.clone())))
    (2 * x).sum().backward()
    [(leaf, grad)] = received
    assert leaf is x and torch.equal(grad, torch.tensor([12.0]))    # added in, then the hook


@claim("hooks-and-memory.md", "returning a tuple replaces the positional arguments",
       "Where an input was clipped, `clamp` passes no gradient back, so `x.grad` is zero there")
@claim("hooks-and-memory.ja.md", "タプルを返すと、位置引数が置き換わります",
       "入力がクリップされたところでは `clamp` が勾配を返さないので、そこでは `x.grad` がゼロになります")
def test_forward_pre_hook_replaced_the_inputs_and_backward_hook_saw_the_shapes(capsys):
    result = page.module_hooks()
    x, layer = result["x"], result["layer"]
    clipped = x.detach().clamp(-1, 1)
    torch.testing.assert_close(result["out"], layer(clipped).detach())
    outside = x.detach().abs() > 1
    assert outside.any() and (~outside).any()      # the example clips some inputs, not all
    assert (x.detach().abs() != 1).all()           # none at the bounds, where torch 2.14 changed clamp
    assert (x.grad[outside] == 0).all()
    expected = layer.weight.detach().sum(0).expand(4, 3)   # d sum(xW^T + b)/dx
    torch.testing.assert_close(x.grad[~outside], expected[~outside])
    out = capsys.readouterr().out
    assert "grad_output shape: (4, 2)" in out and "grad_input shape : (4, 3)" in out


@claim("hooks-and-memory.md", "returning a value replaces the output",
       "Returning a tuple replaces `grad_input`",
       "It sees only the module's *inputs and outputs*, not its parameters")
@claim("hooks-and-memory.ja.md", "値を返すと、出力が置き換わります",
       "タプルを返すと `grad_input` が置き換わります",
       "このフックに見えるのはモジュールの*入力と出力*だけで、パラメータは見えません")
def test_forward_hook_and_full_backward_hook_replace_what_they_return():
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    seen = []

    def doubled_output(module, args, output):
        return 2 * output

    def zeroed_grad_input(module, grad_input, grad_output):
        seen.append(len(grad_input))
        return (torch.zeros_like(grad_input[0]),)

    layer.register_forward_hook(doubled_output)
    layer.register_full_backward_hook(zeroed_grad_input)
    out = layer(x)
    torch.testing.assert_close(out, 2 * (x @ layer.weight.T + layer.bias))
    out.sum().backward()
    assert seen == [1]                              # one input, x: no weight, no bias
    assert torch.equal(x.grad, torch.zeros(4, 3))   # replaced
    assert layer.weight.grad is not None            # the parameters' gradients are not its business


@claim("hooks-and-memory.md", "Each `register_*` call returns a handle whose `remove()` takes the hook off again; a hook "
           "left in place runs on every later call.")
@claim("hooks-and-memory.ja.md", "`register_*` の呼び出しはどれもハンドルを返し、その `remove()` でフックをまた外せます。"
           "付けたままのフックは、以降のすべての呼び出しで実行されます。")
def test_a_hook_runs_on_every_call_until_removed():
    result = page.module_hooks()
    layer = result["layer"]
    assert not layer._forward_pre_hooks and not layer._backward_hooks   # the example removed its hooks
    calls = []
    handle = layer.register_forward_pre_hook(lambda module, args: calls.append(1))
    layer(torch.ones(1, 3))
    layer(torch.ones(1, 3))
    handle.remove()
    layer(torch.ones(1, 3))
    assert len(calls) == 2


@claim("hooks-and-memory.md", "so the multiplication keeps both inputs", "so `exp` keeps its *result*",
       "an addition needs nothing but its `alpha` number",
       "`_saved_self` is `x` itself, and `_saved_result` shares the memory of the output")
@claim("hooks-and-memory.ja.md", "乗算は両方の入力を取っておきます", "`exp` は*結果*を取っておきます",
       "加算に必要なのは `alpha` の数値だけです",
       "`_saved_self` は `x` そのものであり、`_saved_result` は出力とメモリを共有しています")
def test_saved_attributes_are_what_each_derivative_needs(capsys):
    result = page.saved_attributes()
    x, w = result["x"], result["w"]
    product, exponential = result["product"].grad_fn, result["exponential"].grad_fn
    assert product._saved_self is x and product._saved_other is w
    assert exponential._saved_result.data_ptr() == result["exponential"].data_ptr()
    saved = [a for a in dir(result["summed"].grad_fn) if a.startswith("_saved_")]
    assert saved == ["_saved_alpha"]                # a number, no tensor
    assert "_saved_result shares the output's memory: True" in capsys.readouterr().out


@claim("hooks-and-memory.md", "`pack` receives the tensor and returns whatever should be stored, `unpack` turns that back "
           "into the tensor when backward needs it")
@claim("hooks-and-memory.ja.md", "`pack` はテンソルを受け取って、代わりに保存すべきものを返し、`unpack` は backward がそれを"
           "必要としたときに、それをテンソルへ戻します")
def test_pack_stores_anything_and_unpack_gives_the_tensor_back_in_backward():
    events = []

    def pack(tensor):
        events.append("pack")
        return ("stored", tensor.clone())

    def unpack(stored):
        events.append("unpack")
        return stored[1]

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with page.saved_tensors_hooks(pack, unpack):
        y = (x * x).sum()
    assert events == ["pack", "pack"]
    y.backward()
    assert events == ["pack", "pack", "unpack", "unpack"]
    torch.testing.assert_close(x.grad, 2 * x.detach())


@claim("hooks-and-memory.md", "the count depends only on the shapes of the tensors and on which operations ran, not on "
           "their values")
@claim("hooks-and-memory.ja.md", "この数はテンソルの形状と、どの演算が実行されたかだけで決まり、値には左右されません")
def test_saved_bytes_depends_on_shapes_not_values():
    model = page.mlp()
    counts = {page.saved_bytes(model, batch, parameters=model.parameters())[1:]
              for batch in (torch.ones(64, 256), torch.randn(64, 256), torch.zeros(64, 256))}
    assert len(counts) == 1


def storages_saved(function, *inputs):
    """(shape, storage address, is a parameter's storage) of every tensor the pack hook sees."""
    seen = []

    def pack(tensor):
        seen.append((tuple(tensor.shape), tensor.untyped_storage().data_ptr()))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = function(*inputs)
    return output, seen


@claim("hooks-and-memory.md", "12 of the 20 are the weights of the three later `Linear` layers, saved as views of the "
           "parameters", "What remains is the batch and the four `Tanh` results.",
       "Under `no_grad` nothing is saved",
       "the first layer saves no weight, because its input, the batch, needs no gradient",
       "each of the first three `Tanh` results is saved twice, as `Tanh`'s result and as the next "
       "`Linear`'s input")
@claim("hooks-and-memory.ja.md", "20 個分のうち 12 個分は後ろ 3 つの `Linear` の重みで、パラメータのビューとして保存されています",
       "残るのはバッチと 4 つの `Tanh` の結果です。", "`no_grad` の下では何も保存されません",
       "最初の層は重みを保存しません。その入力であるバッチが勾配を必要としないからです。",
       "最初の 3 つの `Tanh` の結果は、`Tanh` の結果として、そして次の `Linear` の入力として、2 回保存されています")
def test_the_pack_hook_counts_20_activations_and_the_graph_keeps_5(capsys):
    result = page.count_saved()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"through the pack hook: {20 * ACTIVATION:9,} bytes, 20 activations",
                     f"kept beyond the model: {5 * ACTIVATION:9,} bytes, 5 activations",
                     "under no_grad        :         0 bytes, 0 kept"]
    model, batch = result["model"], result["batch"]
    tanh_results = []
    for block in model:
        block[1].register_forward_hook(lambda m, a, out: tanh_results.append(out))
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    _, seen = storages_saved(model, batch)
    weights = [s for s in seen if s[1] in parameters]
    assert [shape for shape, _ in weights] == [(256, 256)] * 3          # 12 activations' worth
    others = {address for _, address in seen if address not in parameters}
    assert others == {t.untyped_storage().data_ptr() for t in [batch, *tanh_results]}
    # the first three Tanh results pass twice: Tanh's result, the next Linear's input
    counts = [sum(address == t.untyped_storage().data_ptr() for _, address in seen)
              for t in tanh_results]
    assert counts == [2, 2, 2, 1]


@claim("hooks-and-memory.md", "a saved view of a parameter takes nothing the model does not hold anyway")
@claim("hooks-and-memory.ja.md", "パラメータのビューとして保存されたものは、モデルがもともと持っているメモリしか使いません")
def test_a_saved_weight_is_a_view_of_the_parameter():
    layer = nn.Linear(4, 4)
    x = torch.ones(2, 4, requires_grad=True)
    _, seen = storages_saved(layer, x)
    assert layer.weight.untyped_storage().data_ptr() in {address for _, address in seen}


@claim("hooks-and-memory.md", "Those tensors stay alive until backward runs (or the graph is freed)")
@claim("hooks-and-memory.ja.md", "これらのテンソルは backward が実行されるまで（またはグラフが解放されるまで）生き続けます")
def test_saved_tensors_live_until_backward_or_until_the_graph_goes():
    class Box:                   # what pack returns, for a weak reference to follow (not an output,
                                 # which would make a cycle through the graph that gc cannot see)
        def __init__(self, tensor):
            self.tensor = tensor

    for ending in ("backward", "del"):
        boxes = []

        def pack(tensor):
            box = Box(tensor)
            boxes.append(weakref.ref(box))
            return box

        x = torch.ones(3, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.tensor):
            loss = (x * 2).sin().sum()     # sin saves its input, x * 2
        gc.collect()
        before = [ref() is not None for ref in boxes]
        if ending == "backward":
            loss.backward()
        else:
            del loss
        gc.collect()
        after = [ref() is not None for ref in boxes]
        assert (before, after) == ([True], [False]), ending


@claim("hooks-and-memory.md", "the memory of training grows with the batch and the depth")
@claim("hooks-and-memory.ja.md", "訓練に必要なメモリがバッチサイズと深さに応じて増える")
def test_what_is_kept_grows_with_the_batch_and_the_depth():
    def kept(rows, depth):
        model = page.mlp(width=16, depth=depth)
        return page.saved_bytes(model, torch.ones(rows, 16), parameters=model.parameters())[2]

    assert kept(8, 2) < kept(16, 2) < kept(16, 4)
    assert kept(16, 2) == 2 * kept(8, 2)


@claim("hooks-and-memory.md", "the example only shows the pattern, and that the gradients are unchanged")
@claim("hooks-and-memory.ja.md", "この例が示すのはパターンと、勾配が変わらないことだけです")
def test_save_on_cpu_keeps_the_gradients():
    assert page.on_cpu()["same"] is True


@claim("hooks-and-memory.md", "what the graph keeps drops to the 4 block inputs, kept by the checkpoints, every block runs "
           "forward twice, and the gradients are the same, to the last bit",
       "9 activations a block, 36 for four")
@claim("hooks-and-memory.ja.md", "グラフが抱えるものはチェックポイントが取っておく 4 つのブロックの入力だけに減り、どのブロックも "
           "forward を 2 回実行し、勾配は最後のビットまで同じです", "1 ブロックで 9 個分、4 ブロックで 36 個分")
def test_checkpointing_keeps_the_block_inputs_and_gives_the_same_gradient(capsys):
    result = page.checkpointing()
    plain, checkpointed = result["results"]["plain"], result["results"]["checkpointed"]
    assert len(plain) == len(checkpointed) == 1 + 4 * 4       # batch, then weight and bias x 2 a block
    for a, b in zip(plain, checkpointed):
        assert torch.equal(a, b)
    assert result["same"] is True
    lines = capsys.readouterr().out.splitlines()
    # plain: each block's input, first Linear's output (GELU's input), GELU's result (64 x 1024)
    per_block = ACTIVATION + 2 * 4 * ACTIVATION
    assert lines[0] == f"plain       : {4 * per_block:9,} bytes kept (36 activations), 4 block forwards"
    assert lines[1] == f"checkpointed: {4 * ACTIVATION:9,} bytes kept ( 4 activations), 8 block forwards"
    assert 4 * per_block == 9 * (4 * ACTIVATION)              # nine times less kept


@claim("hooks-and-memory.md", "In the network above it would not: a block's input is the previous block's "
       "`Tanh` result, and that result is all the block keeps besides.")
@claim("hooks-and-memory.ja.md", "上のネットワークでは効きません。ブロックの入力は前のブロックの `Tanh` の結果で、"
       "ブロックがそれ以外に抱えているのはその結果だけだからです。")
def test_checkpointing_the_tanh_blocks_would_save_one_activation():
    model = page.mlp()
    batch = torch.randn(64, 256, requires_grad=True)

    def checkpointed(x):
        for block in model:
            x = page.checkpoint(block, x, use_reentrant=False)
        return x

    plain = page.saved_bytes(model, batch, parameters=model.parameters())[2]
    kept = page.saved_bytes(checkpointed, batch, parameters=model.parameters())[2]
    assert (plain, kept) == (5 * ACTIVATION, 4 * ACTIVATION)     # batch + 4 Tanh results, 4 inputs


@claim("hooks-and-memory.md", "runs `block` without keeping what its operations would save, keeps only its input")
@claim("hooks-and-memory.ja.md", "その演算が保存するはずのものは保存せずに入力だけを取っておき")
def test_checkpointed_intermediates_are_really_freed_after_forward():
    model = page.wide_blocks(width=8, hidden=32, depth=2)
    x = torch.randn(4, 8, requires_grad=True)
    for use_checkpoint in (False, True):
        inside = []
        hooks = [block[1].register_forward_hook(lambda m, a, out: inside.append(weakref.ref(out)))
                 for block in model]
        if use_checkpoint:
            y = x
            for block in model:
                y = page.checkpoint(block, y, use_reentrant=False)
        else:
            y = model(x)
        gc.collect()
        alive = [ref() is not None for ref in inside]
        assert alive == [not use_checkpoint] * 2
        for hook in hooks:
            hook.remove()
        del y


@claim("hooks-and-memory.md", "it works with `torch.autograd.grad`, with inputs that do not require grad, and with keyword "
           "arguments")
@claim("hooks-and-memory.ja.md", "`torch.autograd.grad`、勾配を必要としない入力、キーワード引数に対応しています")
def test_use_reentrant_false_works_where_the_reentrant_one_does_not():
    torch.manual_seed(0)
    layer = nn.Linear(2, 2)
    x = torch.ones(1, 2, requires_grad=True)
    for reentrant in (False, True):
        works = {}
        try:
            torch.autograd.grad(page.checkpoint(layer, x, use_reentrant=reentrant).sum(), x)
            works["grad"] = True
        except RuntimeError:
            works["grad"] = False
        layer.zero_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")              # reentrant: "None of the inputs have requires_grad"
            try:
                page.checkpoint(layer, torch.ones(1, 2), use_reentrant=reentrant).sum().backward()
            except RuntimeError:
                pass
        works["no grad input"] = layer.weight.grad is not None
        try:
            page.checkpoint(lambda t, scale: layer(t) * scale, x, scale=2.0, use_reentrant=reentrant)
            works["keywords"] = True
        except ValueError:
            works["keywords"] = False
        assert works == dict.fromkeys(works, not reentrant), (reentrant, works)


@claim("hooks-and-memory.md", "`use_reentrant=False` selects the implementation PyTorch recommends",
       "pass it explicitly, since PyTorch warns when it is left out")
@claim("hooks-and-memory.ja.md", "`use_reentrant=False` は PyTorch が推奨する実装を選びます",
       "省略すると PyTorch が警告を出すので、明示的に渡してください")
def test_checkpoint_warns_when_use_reentrant_is_left_out():
    x = torch.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly") as caught:
        page.checkpoint(torch.sin, x)
    assert any("use_reentrant=False is recommended" in str(w.message) for w in caught)


@claim("hooks-and-memory.md", "its backward sends the incoming gradient to `a` and zeros to `b` where the condition holds, "
           "and the other way round where it does not")
@claim("hooks-and-memory.ja.md", "その backward は、条件が成り立つところでは流れてきた勾配を `a` に、ゼロを `b` に送り、"
           "それ以外のところではその逆にします")
def test_where_routes_the_gradient_by_the_condition():
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([4.0, 5.0, 6.0], requires_grad=True)
    condition = torch.tensor([True, False, True])
    torch.where(condition, a, b).backward(torch.tensor([7.0, 8.0, 9.0]))
    assert torch.equal(a.grad, torch.tensor([7.0, 0.0, 9.0]))
    assert torch.equal(b.grad, torch.tensor([0.0, 8.0, 0.0]))


@claim("hooks-and-memory.md", "the NaN lands in `x.grad` although the value chosen at 0 was the constant",
       "The gradient is then finite everywhere: 0 at 0 and \\(\\frac{1}{2\\sqrt{x}}\\) elsewhere")
@claim("hooks-and-memory.ja.md", "0 で選ばれたのは定数のほうだったにもかかわらず、NaN が `x.grad` に入り込みます",
       "こうすると勾配はどこでも有限になります：0 では 0、それ以外では \\(\\frac{1}{2\\sqrt{x}}\\) です")
def test_one_where_gives_nan_and_two_wheres_a_finite_gradient():
    result = page.where_trap()
    x = result["x"]
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.5, 0.25]))   # 1/(2 sqrt x), 0 at 0
    naive = x.detach().clone().requires_grad_()
    torch.where(naive > 0, torch.sqrt(naive), 0.0).sum().backward()
    assert torch.isnan(naive.grad[0]) and torch.isfinite(naive.grad[1:]).all()
    torch.testing.assert_close(result["y"], torch.sqrt(x.detach()))


@claim("hooks-and-memory.md", "The same trap waits behind masking with multiplication (`mask * torch.log(x)`)")
@claim("hooks-and-memory.ja.md", "同じ落とし穴は、乗算によるマスク（`mask * torch.log(x)`）の裏にも")
def test_masking_by_multiplication_gives_nan_too():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    mask = torch.tensor([0.0, 1.0])
    (mask * torch.log(x)).sum().backward()
    assert torch.isnan(x.grad[0]) and x.grad[1] == 1.0


@claim("hooks-and-memory.md", "only `eval()` makes the two calls agree, only `no_grad` and `inference_mode` make the output "
           "stop requiring grad, and only `inference_mode` produces an inference tensor",
       "Layers keep their mode; dropout in training mode still drops.",
       "It does not touch autograd: the graph is recorded as before.",
       "results do not require grad and nothing is saved for backward")
@claim("hooks-and-memory.ja.md", "2 回の呼び出しの結果が一致するのは `eval()` のときだけ、出力が勾配を必要としなくなるのは "
           "`no_grad` と `inference_mode` のときだけ、推論テンソルを生むのは `inference_mode` だけです",
       "層のモードはそのままで、訓練モードのドロップアウトは引き続き要素を落とします。",
       "autograd には触れません：グラフはこれまでどおり記録されます。",
       "結果は勾配を必要とせず、backward のために何も保存されません")
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
    model = result["model"]
    with torch.no_grad():
        assert page.saved_bytes(model, torch.ones(2, 4), parameters=model.parameters())[1:] == (0, 0)


@claim("hooks-and-memory.md", "A tensor made under `torch.inference_mode()` can be an input of an operation recorded outside "
           "inference mode only when that operation does not save it for backward: `served + w` is "
           "recorded and differentiated, `served * w` raises.")
@claim("hooks-and-memory.ja.md", "`torch.inference_mode()` の下で作ったテンソルを、推論モードの外で記録される演算の入力にできるのは、"
           "その演算がそれを backward のために保存しない場合だけです：`served + w` は記録されて微分でき、"
           "`served * w` はエラーになります。")
def test_an_inference_tensor_joins_a_sum_but_cannot_be_saved(capsys):
    result = page.eval_no_grad_inference()
    lines = capsys.readouterr().out.splitlines()
    served, w = result["served"], result["w"]
    assert served.is_inference() and served.shape == (2, 4)
    assert torch.equal(w.grad, torch.full((4,), 2.0))             # one per row of served
    assert lines[5] == "w.grad after (served + w).sum().backward(): tensor([2., 2., 2., 2.])"
    assert lines[6].startswith("RuntimeError: Inference tensors cannot be saved for backward")
    assert (served + w).grad_fn is not None                        # recorded
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        served * w


@claim("hooks-and-memory.md", "they have no version counter, and a view of one made in inference mode is not tracked as a "
           "view")
@claim("hooks-and-memory.ja.md", "バージョンカウンタを持たず、推論モードの中で作ったそのビューはビューとして追跡されません")
def test_inference_tensors_skip_version_counters_and_view_tracking():
    with torch.inference_mode():
        served = torch.ones(2, 3)
        view = served[0]
        normal = torch.ones(2, 3)._is_view()
    assert not normal
    with torch.no_grad():
        assert torch.ones(2, 3)[0]._is_view()                     # tracked outside inference mode
    assert not view._is_view()
    with pytest.raises(RuntimeError, match="do not track version counter"):
        served._version


@claim("hooks-and-memory.md", "batch normalization uses its running statistics", "`model.train()` switches back.")
@claim("hooks-and-memory.ja.md", "バッチ正規化は移動統計量（running statistics）を使います",
       "`model.train()` で元に戻ります。")
def test_batch_norm_in_eval_uses_its_running_statistics():
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(3)
    x = torch.randn(8, 3) * 5 + 2
    norm(x)                                      # training: batch statistics, updates the running ones
    norm.eval()
    expected = (x - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
    torch.testing.assert_close(norm(x), expected * norm.weight + norm.bias)
    norm.train()
    batch_mean = norm(x).mean(0)                 # batch statistics again: each feature centred
    torch.testing.assert_close(batch_mean, norm.bias.expand(3), atol=1e-6, rtol=0)
