"""Examples of the page "Forward and backward in a training loop".

The page is docs/training-loop.md.

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_training_loop.py.

The data file ``snippets/data/iris.csv`` (150 iris flowers, 4 measurements,
3 species) ships with the package; nothing is downloaded. Its source and
licence (public domain; measured by Edgar Anderson, published by R. A. Fisher
in 1936) are in the comment lines at its top.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import csv
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.set_printoptions(precision=4, sci_mode=False)

# iris.csv is in a folder "data" next to this script, or in the working
# directory when there is no script file (an interactive session, a notebook).
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()
IRIS_CSV = HERE / "data" / "iris.csv"
# --8<-- [end:setup]


# --8<-- [start:load_iris]
def load_iris(path):
    """Read the iris table: measurements (150 x 4), species indices and names.

    Examples:
        >>> features, labels, species = load_iris(IRIS_CSV)
        >>> features.shape, labels.bincount().tolist()
        (torch.Size([150, 4]), [50, 50, 50])
        >>> species
        ['setosa', 'versicolor', 'virginica']
    """
    with open(path, newline="") as file:
        rows = list(
            csv.reader(line for line in file if not line.startswith("#"))
        )
    rows = rows[1:]                               # the first row is the header
    species = sorted({row[-1] for row in rows})
    features = torch.tensor(
        [[float(value) for value in row[:-1]] for row in rows]
    )
    labels = torch.tensor([species.index(row[-1]) for row in rows])
    return features, labels, species
# --8<-- [end:load_iris]


@example
def loop_to_copy():
    """A loop worth copying: standardized inputs, cross-entropy, mini-batches."""
    # --8<-- [start:loop_to_copy]
    features, labels, species = load_iris(IRIS_CSV)
    # two thirds for training, in a seeded random order; the rest for testing
    order = torch.randperm(150, generator=torch.Generator().manual_seed(0))
    train, test = order[:100], order[100:]
    x_train, x_test = standardize(features[train], features[test])
    y_train, y_test = labels[train], labels[test]    # class indices 0, 1, 2

    torch.manual_seed(0)                             # the initial weights
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()                  # scores, class indices
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    shuffle = torch.Generator().manual_seed(0)       # the order of the batches
    batches = DataLoader(TensorDataset(x_train, y_train), batch_size=10,
                         shuffle=True, generator=shuffle)

    history = []
    for epoch in range(1, 31):
        model.train()                        # training mode (dropout, ...)
        total = 0.0
        for x, y in batches:                 # 10 shuffled mini-batches of 10
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        model.eval()                         # evaluation mode
        with torch.no_grad():                # no graph: nothing to train
            scores = model(x_test)
            test_loss = loss_fn(scores, y_test).item()
            right = (scores.argmax(dim=1) == y_test).sum().item()
        history.append((total / len(x_train), test_loss, right))
        if epoch == 1 or epoch % 5 == 0:
            print(f"epoch {epoch:2}: train loss {total / len(x_train):.3f},",
                  f"test loss {test_loss:.3f},",
                  f"test flowers right {right} of {len(y_test)}")
    print(f"test accuracy: {right / len(y_test):.0%}")
    # --8<-- [end:loop_to_copy]
    return {"history": history, "model": model, "test": test,
            "y_train": y_train, "batches": batches, "right": right,
            "n_test": len(y_test)}


# --8<-- [start:split]
def split(features, labels, seed=0):
    """Shuffle with a seeded generator; two thirds to train, the rest to test.

    Targets are one-hot rows: species 2 becomes [0., 0., 1.].

    Examples:
        >>> parts = split(torch.rand(6, 4), torch.arange(6) % 3)
        >>> x_train, t_train, x_test, t_test = parts
        >>> x_train.shape, t_train.shape, x_test.shape
        (torch.Size([4, 4]), torch.Size([4, 3]), torch.Size([2, 4]))
        >>> t_test.sum(dim=1).tolist()
        [1.0, 1.0]
    """
    order = torch.randperm(
        len(features), generator=torch.Generator().manual_seed(seed)
    )
    targets = nn.functional.one_hot(labels, num_classes=3).float()
    train, test = order[: 2 * len(order) // 3], order[2 * len(order) // 3:]
    return features[train], targets[train], features[test], targets[test]
# --8<-- [end:split]


# --8<-- [start:model]
class TwoLayerNet(nn.Module):
    """Linear, clamp(min=0), Linear: 4 measurements in, 3 scores out."""

    def __init__(self, n_in=4, n_hidden=3, n_out=3):
        super().__init__()
        # assigning a module to an attribute registers its parameters
        self.hidden = nn.Linear(n_in, n_hidden)
        self.output = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        h = self.hidden(x).clamp(min=0)    # negative values become 0
        return self.output(h)
# --8<-- [end:model]


@example
def training_loop():
    """The plain loop: zero_grad, forward, loss, backward, step, 50 times."""
    # --8<-- [start:training_loop]
    torch.manual_seed(0)                          # sets the initial weights
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)

    model = TwoLayerNet()
    loss_fn = nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    train_losses, test_losses = [], []
    for step in range(50):
        # clear the last step's gradients
        optimizer.zero_grad()
        # forward (model.forward) and loss
        loss = loss_fn(model(x_train), t_train)
        # fill p.grad for every parameter
        loss.backward()
        # test loss at the same weights
        with torch.no_grad():
            test_losses.append(loss_fn(model(x_test), t_test).item())
        optimizer.step()                          # p -= lr * p.grad
        train_losses.append(loss.item())

    print(f"train loss, summed over {len(x_train)} flowers:"
          f" {train_losses[0]:.4f} -> {train_losses[-1]:.4f}")
    print(f"test loss, summed over {len(x_test)} flowers: "
          f" {test_losses[0]:.4f} -> {test_losses[-1]:.4f}")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([loss / len(x_train) for loss in train_losses], label="train")
    ax.plot([loss / len(x_test) for loss in test_losses], label="test")
    ax.set(xlabel="step", ylabel="squared error per flower",
           title="Training and test loss")
    ax.legend()
    plt.show()
    # --8<-- [end:training_loop]
    return {"train_losses": train_losses, "test_losses": test_losses, "model": model}


# --8<-- [start:fit]
def fit(
    model, x, t, steps=50, lr=1e-4, zero_grad=True, backward=True, step=True
):
    """The loop above with a switch per call; loss and gradient norm per step.

    Examples:
        >>> x, t = torch.ones(2, 4), torch.eye(3)[:2]
        >>> losses, grad_norms = fit(nn.Linear(4, 3), x, t, step=False)
        >>> losses[0] == losses[-1], len(grad_norms)
        (True, 50)
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss(reduction="sum")
    losses, grad_norms = [], []
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(x), t)
        if backward:
            loss.backward()
        if step:
            optimizer.step()
        grads = [
            p.grad.flatten() for p in model.parameters() if p.grad is not None
        ]
        losses.append(loss.item())
        grad_norms.append(torch.cat(grads).norm().item() if grads else 0.0)
    return losses, grad_norms


# --8<-- [end:fit]


@example
def leave_one_out():
    """Take out zero_grad, backward or step, one at a time."""
    # --8<-- [start:leave_one_out]
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)

    runs = {}
    for name, switches in [("all three calls", {}),
                           ("without zero_grad()", {"zero_grad": False}),
                           ("without backward()", {"backward": False}),
                           ("without step()", {"step": False})]:
        torch.manual_seed(0)                # the same initial weights each time
        runs[name] = fit(TwoLayerNet(), x_train, t_train, **switches)
        losses, grad_norms = runs[name]
        print(f"{name:20} loss {losses[0]:.2f} -> {losses[-1]:6.2f}   "
              f"gradient norm {grad_norms[0]:6.2f},"
              f" largest {max(grad_norms):6.2f}")

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), layout="constrained"
    )
    for name, (losses, grad_norms) in runs.items():
        # it hides "without backward()"
        style = "--" if name == "without step()" else "-"
        top.plot(losses, style, label=name)
        bottom.plot(grad_norms, style)
    top.set(xlabel="step", ylabel="training loss (sum)",
            title="Loss with one call left out")
    bottom.set(xlabel="step", ylabel="norm of all .grad",
               title="Gradient norm with one call left out")
    fig.legend(loc="outside lower center", ncol=2)
    plt.show()
    # --8<-- [end:leave_one_out]
    return {"runs": runs}


@example
def accumulated_gradients():
    """Without zero_grad, .grad holds the sum of every step's gradient: SGD with momentum 1."""
    # --8<-- [start:accumulated_gradients]
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)
    loss_fn = nn.MSELoss(reduction="sum")

    torch.manual_seed(0)
    model = TwoLayerNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    summed = [torch.zeros_like(p) for p in model.parameters()]
    for step in range(10):
        loss = loss_fn(model(x_train), t_train)
        # this step's gradient alone; .grad is left as it is
        own = torch.autograd.grad(
            loss, list(model.parameters()), retain_graph=True
        )
        summed = [total + g for total, g in zip(summed, own)]
        loss.backward()                        # no zero_grad(): adds into .grad
        optimizer.step()
    gap = max((p.grad - total).abs().max().item()
              for p, total in zip(model.parameters(), summed))
    print(f"after 10 steps, largest |.grad - sum of the 10 gradients|: {gap}")

    torch.manual_seed(0)
    heavy = TwoLayerNet()
    optimizer = torch.optim.SGD(heavy.parameters(), lr=1e-4, momentum=1.0)
    momentum_losses = []
    for step in range(50):
        optimizer.zero_grad()
        loss = loss_fn(heavy(x_train), t_train)
        loss.backward()
        optimizer.step()
        momentum_losses.append(loss.item())
    torch.manual_seed(0)
    no_zero_losses, _ = fit(TwoLayerNet(), x_train, t_train, zero_grad=False)
    print("losses without zero_grad() == losses of SGD with momentum=1:",
          no_zero_losses == momentum_losses)
    # --8<-- [end:accumulated_gradients]
    return {"gap": gap, "model": model, "summed": summed,
            "no_zero_losses": no_zero_losses, "momentum_losses": momentum_losses}


@example(atol=1e-12)     # the printed bound 1e-6 is a number too: a change of it is drift
def accumulation_on_purpose():
    """Four batches of 25, each mean loss divided by 4: the full-batch gradient."""
    # --8<-- [start:accumulation_on_purpose]
    features, labels, species = load_iris(IRIS_CSV)
    order = torch.randperm(150, generator=torch.Generator().manual_seed(0))
    x_train, _ = standardize(features[order[:100]], features[order[100:]])
    y_train = labels[order[:100]]             # the first loop's 100 flowers

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()           # a mean over the batch

    def take_grads():
        """The .grad of every parameter, then cleared for the next run."""
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        return grads

    loss_fn(model(x_train), y_train).backward()      # 100 flowers at once
    full = take_grads()
    k = 4
    for x, y in zip(x_train.chunk(k), y_train.chunk(k)):   # 4 batches of 25
        loss_fn(model(x), y).backward()              # adds into .grad
    undivided = take_grads()
    for x, y in zip(x_train.chunk(k), y_train.chunk(k)):
        (loss_fn(model(x), y) / k).backward()
    divided = take_grads()

    print("output bias gradient, full batch:   ", full[-1])
    print("4 batches, losses not divided:      ", undivided[-1])
    print("4 batches, each loss divided by 4:  ", divided[-1])
    gap = max((d - f).abs().max().item() for d, f in zip(divided, full))
    print("largest |divided - full| over all parameters below 1e-6:",
          gap < 1e-6)
    # --8<-- [end:accumulation_on_purpose]
    return {"full": full, "undivided": undivided, "divided": divided,
            "gap": gap, "k": k}

@example
def dead_units():
    """All three hidden units are negative on every flower: no gradient reaches the first layer."""
    # --8<-- [start:dead_units]
    torch.manual_seed(0)
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)
    model = TwoLayerNet()

    with torch.no_grad():
        active = (model.hidden(x_train) > 0).float().mean(dim=0)
    print("share of flowers on which each hidden unit is positive:", active)

    nn.MSELoss(reduction="sum")(model(x_train), t_train).backward()
    print("hidden.weight.grad:", model.hidden.weight.grad, sep="\n")
    print("output.weight.grad:", model.output.weight.grad, sep="\n")

    losses, _ = fit(model, x_train, t_train, steps=500)
    p = t_train.mean(dim=0)                       # the share of each species
    print("species shares p:           ", p)
    print("output.bias after 500 steps:", model.output.bias.detach())
    print(f"loss after 500 steps: {losses[-1]:.4f}")
    print(f"N (1 - sum of p^2):   {len(t_train) * (1 - (p**2).sum()):.4f}")
    # --8<-- [end:dead_units]
    return {"active": active, "model": model, "losses": losses, "p": p, "n": len(t_train)}


# --8<-- [start:standardize]
def standardize(x_train, x_test):
    """Shift and scale each measurement to mean 0 and standard deviation 1.

    The numbers come from the training part; the test part is shifted and
    scaled by the same numbers, so it stays unseen.

    Examples:
        >>> x_train = torch.tensor([[1.], [3.], [5.]])
        >>> train, test = standardize(x_train, torch.tensor([[7.]]))
        >>> train.flatten().tolist(), test.flatten().tolist()
        ([-1.0, 0.0, 1.0], [2.0])
    """
    mean, std = x_train.mean(dim=0), x_train.std(dim=0)
    return (x_train - mean) / std, (x_test - mean) / std
# --8<-- [end:standardize]


@example
def standardized_inputs():
    """Standardized measurements keep the units alive; the same net then classifies."""
    # --8<-- [start:standardized_inputs]
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)
    inputs = {"raw measurements": (x_train, x_test),
              "standardized": standardize(x_train, x_test)}

    p = t_train.mean(dim=0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.axhline(len(t_train) * (1 - (p**2).sum()), color="gray", linestyle="--",
               label="answering the species shares")
    results = {}
    print("inputs             units alive   loss after 50 / 1000 steps",
          "  test right")
    for name, (train, test) in inputs.items():
        torch.manual_seed(0)                 # the same initial weights for both
        model = TwoLayerNet()
        losses, _ = fit(model, train, t_train, steps=1000)
        with torch.no_grad():
            active = (model.hidden(train) > 0).any(dim=0).sum().item()
            answers = model(test).argmax(dim=1)
            correct = (answers == t_test.argmax(dim=1)).sum().item()
        results[name] = {"losses": losses, "active": active, "correct": correct}
        print(f"{name:18} {active} of 3       ",
              f"{losses[49]:7.4f} / {losses[-1]:7.4f}           ",
              f"{correct} of {len(test)}")
        ax.plot(range(0, 1000, 5), losses[::5], label=name)
    ax.set(xlabel="step", ylabel="training loss (sum)",
           title="Raw against standardized measurements")
    ax.legend()
    plt.show()
    # --8<-- [end:standardized_inputs]
    return {"results": results, "n_test": len(x_test)}


# --8<-- [start:rmse_loss]
class RMSELoss(nn.Module):
    """Root mean squared error, sqrt(MSE + eps); eps keeps gradients finite."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, prediction, target):
        return torch.sqrt(nn.functional.mse_loss(prediction, target) + self.eps)
# --8<-- [end:rmse_loss]


@example
def rmse_training():
    """Train with the custom loss module; the loop does not change."""
    # --8<-- [start:rmse_training]
    torch.manual_seed(0)
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)
    x_train, x_test = standardize(x_train, x_test)

    model = TwoLayerNet()
    loss_fn = RMSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    train_losses, test_losses = [], []
    for step in range(200):
        optimizer.zero_grad()
        loss = loss_fn(model(x_train), t_train)
        loss.backward()
        with torch.no_grad():
            test_losses.append(loss_fn(model(x_test), t_test).item())
        optimizer.step()
        train_losses.append(loss.item())

    with torch.no_grad():
        answers = model(x_test).argmax(dim=1)
        correct = (answers == t_test.argmax(dim=1)).sum().item()
    print(f"train RMSE: {train_losses[0]:.4f} -> {train_losses[-1]:.4f}")
    print(f"test RMSE:  {test_losses[0]:.4f} -> {test_losses[-1]:.4f}")
    print(f"test flowers right: {correct} of {len(x_test)}")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(train_losses, label="train")
    ax.plot(test_losses, label="test")
    ax.set(xlabel="step", ylabel="RMSE", title="Training with RMSELoss")
    ax.legend()
    plt.show()
    # --8<-- [end:rmse_training]
    return {"train_losses": train_losses, "test_losses": test_losses, "correct": correct}


@example(atol=1e-12)
def rmse_at_zero():
    """At a perfect prediction the square root's derivative is infinite: eps keeps it finite."""
    # --8<-- [start:rmse_at_zero]
    target = torch.tensor([[0., 1., 0.]])
    grads = {}
    for eps in (0.0, 1e-8):
        prediction = target.clone().requires_grad_()  # exactly right
        loss = RMSELoss(eps=eps)(prediction, target)
        loss.backward()
        grads[eps] = prediction.grad
        print(f"eps = {eps:g}: loss {loss.item():g}")
        print("  gradient is NaN: ", prediction.grad.isnan())
        print("  gradient is zero:", prediction.grad == 0)
    # --8<-- [end:rmse_at_zero]
    return {"grads": grads}


# --8<-- [start:ramp]
class Ramp(nn.Module):
    """max(x, 0) as a module; at x = 0, where x >= 0 holds, its slope is 1."""

    def forward(self, x):
        return torch.where(x >= 0, x, 0.0)
# --8<-- [end:ramp]


@example
def ramp_matches_clamp():
    """The custom activation against clamp(min=0): values and gradients, and where others differ."""
    # --8<-- [start:ramp_matches_clamp]
    x = torch.linspace(-1, 1, 5, requires_grad=True)  # x[2] is exactly 0
    ramp = Ramp()

    def value_and_gradient(f):
        x.grad = None
        y = f(x)
        y.sum().backward()
        return y.detach(), x.grad.clone()

    y_ramp, g_ramp = value_and_gradient(ramp)
    y_clamp, g_clamp = value_and_gradient(lambda x: x.clamp(min=0))
    print("x:              ", x.detach())
    print("Ramp()(x):      ", y_ramp)
    print("d Ramp / dx:    ", g_ramp)
    print("d clamp / dx:   ", g_clamp)
    print("same values as clamp(min=0):", torch.equal(y_ramp, y_clamp),
          "  same gradients:", torch.equal(g_ramp, g_clamp))
    print("gradients differ at x =", x.detach()[g_ramp != g_clamp].tolist())
    _, g_both = value_and_gradient(lambda x: x.clamp(-0.5, 0.5))
    print("d clamp(-0.5, 0.5) / dx:", g_both, "(x = -0.5 and 0.5 are its bounds)")

    at_zero = {}
    for name, f in [
        ("clamp(min=0)", lambda x: x.clamp(min=0)),
        ("Ramp()", ramp),
        ("where(x > 0)", lambda x: torch.where(x > 0, x, 0.0)),
        ("torch.relu", torch.relu),
        ("maximum(x, 0)", lambda x: torch.maximum(x, torch.zeros(()))),
    ]:
        at_zero[name] = value_and_gradient(f)[1][2].item()
        print(f"derivative at x = 0 of {name:14} {at_zero[name]}")
    # --8<-- [end:ramp_matches_clamp]
    return {"y_ramp": y_ramp, "y_clamp": y_clamp, "g_ramp": g_ramp, "g_clamp": g_clamp,
            "g_both": g_both, "x": x.detach(), "at_zero": at_zero}


@example
def ramp_in_a_network():
    """A network built from the Ramp module trains exactly like TwoLayerNet."""
    # --8<-- [start:ramp_in_a_network]
    features, labels, species = load_iris(IRIS_CSV)
    x_train, t_train, x_test, t_test = split(features, labels, seed=0)
    x_train, x_test = standardize(x_train, x_test)

    torch.manual_seed(0)
    with_clamp = TwoLayerNet()
    torch.manual_seed(0)                      # same draws, same initial weights
    with_ramp = nn.Sequential(nn.Linear(4, 3), Ramp(), nn.Linear(3, 3))

    losses_clamp, norms_clamp = fit(with_clamp, x_train, t_train)
    losses_ramp, norms_ramp = fit(with_ramp, x_train, t_train)
    print(with_ramp)
    print("same loss at all 50 steps:", losses_clamp == losses_ramp)
    print("same gradient norms:      ", norms_clamp == norms_ramp)
    same = all(torch.equal(a, b) for a, b in zip(with_clamp.parameters(),
                                                 with_ramp.parameters()))
    print("same final parameters:    ", same)
    # --8<-- [end:ramp_in_a_network]
    return {"losses_clamp": losses_clamp, "losses_ramp": losses_ramp,
            "with_clamp": with_clamp, "with_ramp": with_ramp}
