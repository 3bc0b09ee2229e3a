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
            nn.Conv2d(3, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(4),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
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

    scores = model(image)                              # 1. forward pass
    loss = nn.functional.cross_entropy(scores, label)  # 2. loss
    loss.backward()                                    # 3. backward: fill .grad
    optimizer.step()                                   # 4. step: moves weights

    loss_after = nn.functional.cross_entropy(model(image), label)
    print(f"label {label.item()}, loss before the step {loss.item():.4f},"
          f" after {loss_after.item():.4f}")
    with_grad = [p.grad is not None for p in model.parameters()]
    print("parameters with a gradient:", sum(with_grad), "of", len(with_grad))
    print("classifier.bias.grad:", model.classifier.bias.grad)
    # --8<-- [end:training_step]
    return {"loss_before": loss.item(), "loss_after": loss_after.item(),
            "model": model, "scores": scores.detach(), "label": label,
            "with_grad": with_grad}


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
        message = str(error)
        print("RuntimeError:", error)

    Q.sum().backward()          # the same as Q.backward(gradient=torch.ones(2))
    print("a.grad =", a.grad, " b.grad =", b.grad)
    # --8<-- [end:sum_backward]
    return {"a": a, "b": b, "message": message}


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
    # a constant: no gradient wanted
    x = torch.tensor([3., 4.])
    loss = (w * x).exp().sum()                        # the root

    def show(node, depth=0):
        print("  " * depth + type(node).__name__)
        for parent, _ in node.next_functions:
            if parent is not None:
                show(parent, depth + 1)

    print("w.is_leaf:", w.is_leaf, " loss.is_leaf:", loss.is_leaf)
    show(loss.grad_fn)
    accumulate = (
        loss.grad_fn.next_functions[0][0]
        .next_functions[0][0]
        .next_functions[0][0]
    )
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

    doublings = {}
    for start in (1.0, 10.0):
        x = torch.tensor(start, requires_grad=True)
        y, steps = double_until(x)
        doublings[start] = steps
        y.backward()
        print(f"x = {start:4}: {steps} doublings,",
              f"dy/dx = {x.grad.item():.0f} = 2**{steps}")
    # --8<-- [end:dynamic_graph]
    return {"last_steps": steps, "last_grad": x.grad, "doublings": doublings}


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
    return {"dy_dx": x.grad, "z": z}


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

    optimizer = torch.optim.SGD([x], lr=0.01)
    optimizer.zero_grad()  # since PyTorch 2.0: x.grad = None, not zeros
    print("after optimizer.zero_grad(): x.grad =", x.grad)
    (3 * x**2).backward()
    print(f"after one more call: x.grad = {x.grad.item():.1f}")

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, 5), history, marker="o")
    ax.set(xlabel="number of backward() calls", ylabel="x.grad",
           title="Gradients accumulate", xticks=range(1, 5))
    plt.show()
    # --8<-- [end:accumulation]
    return {"history": history, "after_zero": x.grad.item(), "x": x}


@example
def freezing():
    """Freeze a network, give it a new last layer, and train only that layer."""
    # --8<-- [start:freezing]
    torch.manual_seed(0)
    model = SmallConvNet()
    for parameter in model.parameters():
        parameter.requires_grad = False        # frozen: no gradient, no update

    model.classifier = nn.Linear(16, 5)        # new layer: trainable by default
    optimizer = torch.optim.SGD(
        model.classifier.parameters(), lr=0.01, momentum=0.9
    )

    frozen_before = model.features[0].weight.clone()
    new_before = model.classifier.weight.clone()
    image, label = torch.rand(1, 3, 64, 64), torch.tensor([3])
    nn.functional.cross_entropy(model(image), label).backward()
    optimizer.step()

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("trainable parameters:", trainable, "of",
          sum(p.numel() for p in model.parameters()))
    print("frozen conv weights moved:",
          not torch.equal(frozen_before, model.features[0].weight))
    print("new layer weights moved:  ",
          not torch.equal(new_before, model.classifier.weight))
    print("frozen conv weight has a gradient:",
          model.features[0].weight.grad is not None)
    # --8<-- [end:freezing]
    return {"model": model, "frozen_before": frozen_before, "new_before": new_before}


@example
def outside_the_graph():
    """no_grad, detach and inference_mode keep computations out of the graph."""
    # --8<-- [start:outside_the_graph]
    w = torch.tensor([1., 2.], requires_grad=True)

    with torch.no_grad():              # evaluation, or updating weights by hand
        scaled = w * 2
    print("under no_grad:", scaled.requires_grad)

    frozen = w.detach()                  # same numbers, same memory, no history
    print("detached:", frozen.requires_grad, "| shares memory with w:",
          frozen.data_ptr() == w.data_ptr())

    with torch.inference_mode():         # fastest, for serving a model
        served = w * 2
    print("inference tensor:", served.is_inference())
    (served + w).sum().backward()        # d/dw needs nothing saved: allowed
    print("w.grad after (served + w).sum().backward():", w.grad)
    try:
        (served * w).sum().backward()    # d/dw is served: it must be saved
    except RuntimeError as error:
        message = str(error)
        print("RuntimeError:", error)
    # --8<-- [end:outside_the_graph]
    return {"scaled": scaled, "frozen": frozen, "w": w, "served": served,
            "w_grad": w.grad, "message": message}


# --8<-- [start:graph_drawing]
def graph_of(root, leaves=None):
    """The graph behind root.grad_fn: node names, edges and depths.

    Nodes are numbered as a breadth-first walk of next_functions meets them
    (the root's grad_fn is 0); an edge (i, j) says node i passes gradient to
    node j; a depth is the longest path from the root. ``leaves`` maps names
    to leaf tensors, to name their AccumulateGrad nodes.

    Examples:
        >>> a = torch.tensor(1., requires_grad=True)
        >>> names, edges, depth = graph_of(2 * a.exp(), {"a": a})
        >>> names
        ['MulBackward0', 'ExpBackward0', 'AccumulateGrad (a)']
        >>> edges, depth
        ([(0, 1), (1, 2)], [0, 1, 2])
    """
    label = {id(t): name for name, t in (leaves or {}).items()}
    nodes, edges = [root.grad_fn], []
    number = {root.grad_fn: 0}
    for node in nodes:                    # the list grows as the walk goes
        for parent, _ in node.next_functions:
            if parent is None:            # an input that needs no gradient
                continue
            if parent not in number:
                number[parent] = len(nodes)
                nodes.append(parent)
            edges.append((number[node], number[parent]))
    depth = [0] * len(nodes)
    for _ in nodes:                       # longest path: relax every edge
        for i, j in edges:
            depth[j] = max(depth[j], depth[i] + 1)
    names = []
    for node in nodes:
        leaf = getattr(node, "variable", None)    # AccumulateGrad's tensor
        name = type(node).__name__
        if leaf is not None and id(leaf) in label:
            name += f" ({label[id(leaf)]})"
        names.append(name)
    return names, edges, depth


def draw_graph(ax, names, edges, depth):
    """Draw a graph from graph_of: the root on top, leaves as squares.

    Examples:
        >>> fig, ax = plt.subplots()
        >>> names = ["NegBackward0", "AccumulateGrad (a)"]
        >>> draw_graph(ax, names, [(0, 1)], [0, 1])
        >>> len(ax.lines), len(ax.collections)
        (1, 2)
        >>> plt.close(fig)
    """
    below = [[] for _ in names]
    for i, j in edges:
        below[i].append(j)
    x = [None] * len(names)
    ends = []

    def place(i):                         # ends side by side, others centred
        if x[i] is None:
            if below[i]:
                x[i] = sum(place(j) for j in below[i]) / len(below[i])
            else:
                x[i] = len(ends)
                ends.append(i)
        return x[i]

    place(0)
    y = [-d for d in depth]
    for i, j in edges:
        ax.plot([x[i], x[j]], [y[i], y[j]], color="C0", linewidth=1)
    leaf = [name.startswith("AccumulateGrad") for name in names]
    for is_leaf, marker, colour in [(False, "o", "C0"), (True, "s", "C1")]:
        chosen = [k for k in range(len(names)) if leaf[k] == is_leaf]
        ax.scatter([x[k] for k in chosen], [y[k] for k in chosen],
                   marker=marker, color=colour, zorder=3)
    for k, name in enumerate(names):
        if leaf[k]:                       # the leaf's name, under its square
            ax.annotate(name.split("(")[-1].rstrip(")"), (x[k], y[k]),
                        xytext=(0, -12), textcoords="offset points",
                        ha="center", fontsize=8)
        else:                             # away from the middle
            side = -1 if x[k] < x[0] else 1
            ax.annotate(name, (x[k], y[k]), xytext=(7 * side, 0),
                        textcoords="offset points", va="center",
                        ha="right" if side < 0 else "left", fontsize=8)
    ax.set_axis_off()
# --8<-- [end:graph_drawing]


@example
def graph_picture_q():
    """The recorded graph of Q = 3a³ - b², drawn from grad_fn."""
    # --8<-- [start:graph_picture_q]
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a**3 - b**2

    names, edges, depth = graph_of(Q, {"a": a, "b": b})
    for i, j in edges:                    # node i passes gradient to node j
        print(f"{i} {names[i]:13} -> {j} {names[j]}")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    draw_graph(ax, names, edges, depth)
    ax.set_title("The graph of Q = 3a³ - b²")
    plt.show()
    # --8<-- [end:graph_picture_q]
    return {"names": names, "edges": edges, "depth": depth, "a": a, "b": b,
            "Q": Q}


@example
def graph_picture_network():
    """The graph that backward() walks in the training step."""
    # --8<-- [start:graph_picture_network]
    torch.manual_seed(0)
    model = SmallConvNet()
    image = torch.rand(1, 3, 64, 64)
    label = torch.randint(0, 10, (1,))
    loss = nn.functional.cross_entropy(model(image), label)

    names, edges, depth = graph_of(loss, dict(model.named_parameters()))
    print(f"{len(names)} nodes, {len(edges)} edges")
    for level in range(max(depth) + 1):
        print(level, [n for n, d in zip(names, depth) if d == level])

    fig, ax = plt.subplots(figsize=(8, 7))
    draw_graph(ax, names, edges, depth)
    ax.set_title("The graph of one training step's loss")
    plt.show()
    # --8<-- [end:graph_picture_network]
    return {"names": names, "edges": edges, "depth": depth, "model": model,
            "loss": loss}
