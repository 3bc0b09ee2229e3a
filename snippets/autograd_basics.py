"""Examples of the page "How autograd works" (docs/autograd-basics.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_autograd_basics.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import matplotlib.pyplot as plt
import torch
from torch import nn

torch.set_printoptions(precision=4, sci_mode=False)
# --8<-- [end:setup]


# --8<-- [start:model]
class SmallConvNet(nn.Module):
    """Two convolutions and a linear classifier for 3x64x64 images."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(16, classes)

    def forward(self, images):
        return self.classifier(self.features(images).flatten(1))
# --8<-- [end:model]


@example
def training_step():
    """One step of training: forward, loss, backward, step."""
    # --8<-- [start:training_step]
    torch.manual_seed(0)
    model = SmallConvNet()
    image = torch.rand(1, 3, 64, 64)
    label = torch.randint(0, 10, (1,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    scores = model(image)                                  # 1. forward pass
    loss = nn.functional.cross_entropy(scores, label)      # 2. loss
    loss.backward()                                        # 3. backward: fills .grad
    optimizer.step()                                       # 4. step: moves the weights

    loss_after = nn.functional.cross_entropy(model(image), label)
    print(f"label {label.item()}, loss before the step {loss.item():.4f}, after {loss_after.item():.4f}")
    print("classifier.bias.grad:", model.classifier.bias.grad)
    # --8<-- [end:training_step]
    return {"loss_before": loss.item(), "loss_after": loss_after.item(), "model": model}


@example
def gradients_by_hand():
    """Autograd agrees with the derivatives worked out by hand."""
    # --8<-- [start:gradients_by_hand]
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a**3 - b**2

    Q.backward(gradient=torch.tensor([1., 1.]))
    print("a.grad =", a.grad, " 9a² =", 9 * a.detach()**2)
    print("b.grad =", b.grad, " -2b =", -2 * b.detach())
    # --8<-- [end:gradients_by_hand]
    return {"a": a, "b": b}


@example
def sum_backward():
    """Backward of a sum is backward with a gradient of ones."""
    # --8<-- [start:sum_backward]
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a**3 - b**2

    try:
        Q.backward()                 # Q has two elements: which weighting?
    except RuntimeError as error:
        print("RuntimeError:", error)

    Q.sum().backward()               # the same as Q.backward(gradient=torch.ones(2))
    print("a.grad =", a.grad, " b.grad =", b.grad)
    # --8<-- [end:sum_backward]
    return {"a": a, "b": b}


@example
def jacobian_vjp():
    """backward(v) computes the vector-Jacobian product J^T v without building J."""
    # --8<-- [start:jacobian_vjp]
    def f(x):
        return torch.stack([x[0] * x[1], x[0]**2 + torch.sin(x[1]), 3 * x[1]])

    x = torch.tensor([1., 2.], requires_grad=True)
    J = torch.autograd.functional.jacobian(f, x)    # 3 outputs x 2 inputs
    v = torch.tensor([1., -1., 0.5])

    f(x).backward(v)
    print("J =", J)
    print("J^T v   =", J.T @ v)
    print("x.grad  =", x.grad)
    # --8<-- [end:jacobian_vjp]
    return {"J": J, "v": v, "x": x}


@example
def graph_walk():
    """Walk the recorded graph from the root back to the leaves."""
    # --8<-- [start:graph_walk]
    w = torch.tensor([1., 2.], requires_grad=True)   # a leaf: made by you
    x = torch.tensor([3., 4.])                       # a constant: no gradient wanted
    loss = (w * x).exp().sum()                        # the root

    def show(node, depth=0):
        print("  " * depth + type(node).__name__)
        for parent, _ in node.next_functions:
            if parent is not None:
                show(parent, depth + 1)

    print("w.is_leaf:", w.is_leaf, " loss.is_leaf:", loss.is_leaf)
    show(loss.grad_fn)
    accumulate = loss.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0]
    print("the last node writes into w:", accumulate.variable is w)
    # --8<-- [end:graph_walk]
    return {"w": w, "loss": loss, "accumulate": accumulate}


@example
def dynamic_graph():
    """The graph is recorded anew on each forward pass, so data-dependent loops just work."""
    # --8<-- [start:dynamic_graph]
    def double_until(x, limit=100.0):
        steps = 0
        while x.abs().sum() < limit:    # how often depends on the data
            x = 2 * x
            steps += 1
        return x, steps

    for start in (1.0, 10.0):
        x = torch.tensor(start, requires_grad=True)
        y, steps = double_until(x)
        y.backward()
        print(f"x = {start:4}: {steps} doublings, dy/dx = {x.grad.item():.0f} = 2**{steps}")
    # --8<-- [end:dynamic_graph]
    return {"last_steps": steps, "last_grad": x.grad}


@example
def requires_grad_propagation():
    """A result needs gradients as soon as one of its inputs does."""
    # --8<-- [start:requires_grad_propagation]
    x = torch.rand(5, 5)
    y = torch.rand(5, 5)
    z = torch.rand(5, 5, requires_grad=True)

    print("x + y requires grad:", (x + y).requires_grad)
    print("x + z requires grad:", (x + z).requires_grad)
    # --8<-- [end:requires_grad_propagation]
    return {"x_plus_y": (x + y).requires_grad, "x_plus_z": (x + z).requires_grad}


@example
def chain_rule():
    """dz/dx multiplies the local derivatives along the path; dy/dx stops earlier."""
    # --8<-- [start:chain_rule]
    x = torch.tensor(2.0, requires_grad=True)
    y = 3 * x
    z = 5 * y
    z.backward()
    print(x.grad)        # dz/dx = 5 * 3

    x = torch.tensor(2.0, requires_grad=True)
    y = 3 * x
    y.backward()
    print(x.grad)        # dy/dx = 3
    # --8<-- [end:chain_rule]
    return {"dy_dx": x.grad}


@example
def accumulation():
    """Each backward adds into .grad; zero it to start again."""
    # --8<-- [start:accumulation]
    x = torch.tensor(2.0, requires_grad=True)
    history = []
    for call in range(1, 5):
        y = 3 * x**2           # dy/dx = 6x = 12
        y.backward()
        history.append(x.grad.item())
        print(f"after backward call {call}: x.grad = {x.grad.item():.1f}")

    x.grad.zero_()             # what optimizer.zero_grad() does for every parameter
    (3 * x**2).backward()
    print(f"after zeroing and one more call: x.grad = {x.grad.item():.1f}")

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, 5), history, marker="o")
    ax.set(xlabel="number of backward() calls", ylabel="x.grad",
           title="Gradients accumulate", xticks=range(1, 5))
    plt.show()
    # --8<-- [end:accumulation]
    return {"history": history, "after_zero": x.grad.item()}


@example
def freezing():
    """Freeze a network, give it a new last layer, and train only that layer."""
    # --8<-- [start:freezing]
    torch.manual_seed(0)
    model = SmallConvNet()
    for parameter in model.parameters():
        parameter.requires_grad = False            # frozen: no gradient, no update

    model.classifier = nn.Linear(16, 5)            # new layer: trainable by default
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.01, momentum=0.9)

    frozen_before = model.features[0].weight.clone()
    new_before = model.classifier.weight.clone()
    image, label = torch.rand(1, 3, 64, 64), torch.tensor([3])
    nn.functional.cross_entropy(model(image), label).backward()
    optimizer.step()

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("trainable parameters:", trainable, "of", sum(p.numel() for p in model.parameters()))
    print("frozen conv weights moved:", not torch.equal(frozen_before, model.features[0].weight))
    print("new layer weights moved:  ", not torch.equal(new_before, model.classifier.weight))
    print("frozen conv weight has a gradient:", model.features[0].weight.grad is not None)
    # --8<-- [end:freezing]
    return {"model": model, "frozen_before": frozen_before, "new_before": new_before}


@example
def outside_the_graph():
    """no_grad, detach and inference_mode keep computations out of the graph."""
    # --8<-- [start:outside_the_graph]
    w = torch.tensor([1., 2.], requires_grad=True)

    with torch.no_grad():                 # evaluation, or updating weights by hand
        scaled = w * 2
    print("under no_grad:", scaled.requires_grad)

    frozen = w.detach()                   # same numbers, same memory, no history
    print("detached:", frozen.requires_grad, "| shares memory with w:",
          frozen.data_ptr() == w.data_ptr())

    with torch.inference_mode():          # fastest, for tensors that never meet autograd
        served = w * 2
    print("inference tensor:", served.is_inference())
    try:
        (served * w).sum().backward()
    except RuntimeError as error:
        print("RuntimeError:", error)
    # --8<-- [end:outside_the_graph]
    return {"scaled": scaled, "frozen": frozen, "w": w, "served": served}
