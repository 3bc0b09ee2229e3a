"""Examples of the page "torch.autograd.grad" (docs/autograd-grad.md).

Each example is the code the page shows, between its section markers; what
it returns is for the tests in tests/test_autograd_grad.py.
"""

from snippets.pipeline.examples import example

# --8<-- [start:setup]
import warnings

import matplotlib.pyplot as plt
import torch

torch.set_printoptions(precision=4, sci_mode=False)
# torch 2.14 deprecates torch.jit.script, and calls it itself
# the first time forward-mode AD runs
warnings.filterwarnings(
    "ignore", "`torch.jit.script` is deprecated", FutureWarning)
# --8<-- [end:setup]


@example
def first_derivative():
    """dy/dx of a cubic on 100 points, printed and plotted against the formula."""
    # --8<-- [start:first_derivative]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    y = x**3 + 2 * x**2 + 3 * x + 1

    (dy_dx,) = torch.autograd.grad(
        outputs=y, inputs=x, grad_outputs=torch.ones_like(y)
    )

    exact = 3 * x.detach()**2 + 4 * x.detach() + 3
    print("dy/dx, first three:", dy_dx[:3])
    print("dy/dx, last three: ", dy_dx[-3:])
    print("equal to 3x² + 4x + 3 up to float32 rounding:",
          torch.allclose(dy_dx, exact))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x.detach(), exact, label="exact: 3x² + 4x + 3")
    ax.plot(x.detach(), dy_dx, linestyle="none", marker=".", markevery=4,
            label="torch.autograd.grad")
    ax.set(
        xlabel="x", ylabel="dy/dx", title="Derivative of y = x³ + 2x² + 3x + 1"
    )
    ax.legend()
    plt.show()
    # --8<-- [end:first_derivative]
    return {"x": x, "dy_dx": dy_dx}


@example
def scaled_grad_outputs():
    """grad_outputs weighs each output: twos double the derivative; a scalar output needs none."""
    # --8<-- [start:scaled_grad_outputs]
    x = torch.linspace(0, 1, 100, requires_grad=True)

    y = x**3 + 2 * x**2 + 3 * x + 1
    # a scalar output: no grad_outputs needed
    (plain,) = torch.autograd.grad(y.sum(), x)

    # built again: the call above freed the graph
    y = x**3 + 2 * x**2 + 3 * x + 1
    (doubled,) = torch.autograd.grad(y, x, grad_outputs=2 * torch.ones_like(y))

    print("grad_outputs = 1, first three:", plain[:3])
    print("grad_outputs = 2, first three:", doubled[:3])
    print("doubled == 2 * plain everywhere:", torch.equal(doubled, 2 * plain))

    y = x**3 + 2 * x**2 + 3 * x + 1
    try:
        torch.autograd.grad(y, x)           # 100 outputs and no weighting given
    except RuntimeError as error:
        print(f"RuntimeError: {error}")
    # --8<-- [end:scaled_grad_outputs]
    return {"x": x, "plain": plain, "doubled": doubled}


@example
def outputs_and_inputs():
    """Several outputs add up; several inputs give one gradient each; .grad is left alone."""
    # --8<-- [start:outputs_and_inputs]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    y = x**3 + 2 * x**2 + 3 * x + 1
    z = x**2 + 2 * x + 3

    (d_y_plus_z,) = torch.autograd.grad(
        outputs=(y, z),
        inputs=x,
        grad_outputs=(torch.ones_like(y), torch.ones_like(z)),
    )
    print("d(y + z)/dx, first three:", d_y_plus_z[:3])
    print("x.grad after autograd.grad:", x.grad)

    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    q = a * b**2
    # a tuple, in the order given
    da, db = torch.autograd.grad(q, (a, b), retain_graph=True)
    print("tuple of inputs:", da, db)
    print("dict of inputs: ", torch.autograd.grad(q, {"a": a, "b": b}))
    # --8<-- [end:outputs_and_inputs]
    return {"x": x, "d_y_plus_z": d_y_plus_z, "x_grad": x.grad, "da": da, "db": db}


@example
def retain_graph():
    """A second derivative of the same graph fails unless the first call keeps it."""
    # --8<-- [start:retain_graph]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    y = x**3 + 2 * x**2 + 3 * x + 1
    z = x**2 + 2 * x + 3
    ones = torch.ones_like(x)

    torch.autograd.grad(y, x, ones)          # fine, and frees the graph of y
    try:
        torch.autograd.grad(y, x, ones)      # nothing left to walk back through
        second_call_failed = False
    except RuntimeError as error:
        second_call_failed = True
        print(f"RuntimeError: {error}")

    # z has a graph of its own, still whole
    (dz_dx,) = torch.autograd.grad(z, x, ones)
    print("dz/dx, first three:", dz_dx[:3])

    y = x**3 + 2 * x**2 + 3 * x + 1
    # keep the graph...
    (first,) = torch.autograd.grad(y, x, ones, retain_graph=True)
    # ...for this last use
    (again,) = torch.autograd.grad(y, x, ones)
    print("the same both times:", torch.equal(first, again))
    # --8<-- [end:retain_graph]
    return {"x": x, "second_call_failed": second_call_failed, "dz_dx": dz_dx,
            "first": first, "again": again}


@example
def create_graph():
    """A derivative can be differentiated again only if its own graph was recorded."""
    # --8<-- [start:create_graph]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    ones = torch.ones_like(x)

    y = x**3 + 2 * x**2 + 3 * x + 1
    (dy_dx,) = torch.autograd.grad(y, x, ones)
    print("without create_graph, dy/dx requires grad:", dy_dx.requires_grad)
    try:
        torch.autograd.grad(dy_dx, x, ones)
        differentiated_again = True
    except RuntimeError as error:
        differentiated_again = False
        print(f"RuntimeError: {error}")

    y = x**3 + 2 * x**2 + 3 * x + 1
    (dy_dx,) = torch.autograd.grad(y, x, ones, create_graph=True)
    print("with create_graph, dy/dx requires grad:", dy_dx.requires_grad)
    (d2y_dx2,) = torch.autograd.grad(dy_dx, x, ones)

    exact = 6 * x.detach() + 4
    print("d²y/dx², first three:", d2y_dx2[:3])
    print("d²y/dx², last three: ", d2y_dx2[-3:])
    print("equal to 6x + 4 up to float32 rounding:",
          torch.allclose(d2y_dx2, exact))
    # --8<-- [end:create_graph]
    return {"x": x, "differentiated_again": differentiated_again, "d2y_dx2": d2y_dx2}


@example
def allow_unused():
    """An input the outputs never used is an error, or None when allowed."""
    # --8<-- [start:allow_unused]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    # requires grad, but y never uses it
    scale = torch.tensor(2.0, requires_grad=True)
    y = x**3 + 2 * x**2 + 3 * x + 1
    ones = torch.ones_like(y)

    try:
        # the check comes after the backward pass: keep the graph for later
        torch.autograd.grad(y, (x, scale), ones, retain_graph=True)
        unused_failed = False
    except RuntimeError as error:
        unused_failed = True
        print(f"RuntimeError: {error}")

    dy_dx, dy_dscale = torch.autograd.grad(
        y, (x, scale), ones, allow_unused=True
    )
    print("dy/dx, first three:", dy_dx[:3])
    print("dy/dscale:", dy_dscale)
    # --8<-- [end:allow_unused]
    return {"x": x, "unused_failed": unused_failed, "dy_dx": dy_dx, "dy_dscale": dy_dscale}


@example
def materialize_grads():
    """Zeros instead of None for unused inputs, convenient for higher derivatives."""
    # --8<-- [start:materialize_grads]
    x = torch.linspace(0, 1, 100, requires_grad=True)
    w = torch.tensor(2.0, requires_grad=True)
    y = w * x**2

    dy_dx, dy_dw = torch.autograd.grad(
        y, (x, w), torch.ones_like(y), create_graph=True
    )
    print("dy/dw = sum of x²:", dy_dw)

    # dy/dw no longer depends on w: its derivative in w is zero, not missing
    d2y_dwdx, d2y_dw2 = torch.autograd.grad(
        dy_dw, (x, w), materialize_grads=True
    )
    print("d²y/dw dx, first three:", d2y_dwdx[:3])
    print("d²y/dw²:", d2y_dw2)
    # --8<-- [end:materialize_grads]
    return {"x": x, "w": w, "dy_dw": dy_dw, "d2y_dwdx": d2y_dwdx,
            "d2y_dw2": d2y_dw2}


@example
def is_grads_batched():
    """A batch of grad_outputs in one call: the rows of a Jacobian."""
    # --8<-- [start:is_grads_batched]
    v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = torch.stack([v[0] * v[1], v[1] * v[2], v[0]**2 + v[2]])

    # row i of the Jacobian is the vector-Jacobian product with unit vector i
    (jacobian,) = torch.autograd.grad(
        f, v, grad_outputs=torch.eye(3), is_grads_batched=True
    )
    print("Jacobian of f:\n", jacobian)

    x = torch.linspace(0, 1, 100, requires_grad=True)
    y = x**3 + 2 * x**2 + 3 * x + 1
    (dy_dx,) = torch.autograd.grad(y, x, torch.ones_like(y), retain_graph=True)
    (jacobian_y,) = torch.autograd.grad(
        y, x, torch.eye(100), is_grads_batched=True
    )
    print("Jacobian of y: shape", tuple(jacobian_y.shape),
          "| zero off the diagonal:",
          torch.equal(jacobian_y, torch.diag(jacobian_y.diagonal())),
          "| diagonal == dy/dx:", torch.equal(jacobian_y.diagonal(), dy_dx))
    # --8<-- [end:is_grads_batched]
    return {"v": v, "jacobian": jacobian, "jacobian_y": jacobian_y, "dy_dx": dy_dx}


@example(atol=1e-5)
def partial_heat_maps():
    """The partial derivative in x on a grid, against the formula, as three heat maps."""
    # --8<-- [start:partial_heat_maps]
    x = torch.linspace(0, 1, 100)
    y = torch.linspace(2, 1, 100)
    X, Y = torch.meshgrid(x, y, indexing="xy")  # X[i, j] = x[j], Y[i, j] = y[i]
    X = X.flatten().requires_grad_()            # each grid point its own leaf
    Y = Y.flatten().requires_grad_()

    z = X**2 * Y + 2 * X * Y**3
    (dz_dX,) = torch.autograd.grad(z, X, torch.ones_like(z))
    exact = 2 * X.detach() * Y.detach() + 2 * Y.detach()**3

    difference = dz_dX - exact
    largest = difference.abs().max().item()
    if largest == 0:     # an empty panel would say nothing: its title says it
        what, largest = "autograd − exact: exactly 0 everywhere", 1.0
    else:
        what = "autograd − exact"
    panels = [("exact: 2xy + 2y³", exact, {}),
              ("torch.autograd.grad", dz_dX, {}),
              (what, difference, {"cmap": "RdBu", "vmin": -largest,
                                  "vmax": largest})]
    fig, axes = plt.subplots(3, 1, figsize=(6, 9), layout="constrained")
    for ax, (title, values, style) in zip(axes, panels):
        grid = values.reshape(100, 100).numpy()
        image = ax.imshow(grid, extent=(0, 1, 1, 2), aspect="auto", **style)
        ax.set(xlabel="x", ylabel="y", title=title)
        fig.colorbar(image, ax=ax)
    fig.suptitle("∂z/∂x of z = x²y + 2xy³")
    plt.show()
    print("largest |autograd − exact|:", (dz_dX - exact).abs().max().item())
    # --8<-- [end:partial_heat_maps]
    return {"X": X, "Y": Y, "dz_dX": dz_dX}


@example
def gradient_x_and_y():
    """Both partial derivatives in one call, by passing both grid tensors as inputs."""
    # --8<-- [start:gradient_x_and_y]
    x = torch.linspace(0, 1, 100)
    y = torch.linspace(2, 1, 100)
    X, Y = torch.meshgrid(x, y, indexing="xy")
    X = X.flatten().requires_grad_()
    Y = Y.flatten().requires_grad_()

    z = X**2 * Y + 2 * X * Y**3
    dz_dX, dz_dY = torch.autograd.grad(z, (X, Y), torch.ones_like(z))
    print("∂z/∂x, first three:", dz_dX[:3])
    print("∂z/∂x, last three: ", dz_dX[-3:])
    print("∂z/∂y, first three:", dz_dY[:3])
    print("∂z/∂y, last three: ", dz_dY[-3:])
    # --8<-- [end:gradient_x_and_y]
    return {"X": X, "Y": Y, "dz_dX": dz_dX, "dz_dY": dz_dY}


@example
def func_grad():
    """torch.func.grad turns a scalar function into its derivative function."""
    # --8<-- [start:func_grad]
    from torch.func import grad

    def f(x):
        return x**3 + 2 * x**2 + 3 * x + 1

    df = grad(f)             # a function: x -> f'(x)
    d2f = grad(grad(f))      # and x -> f''(x), no create_graph needed
    x = torch.tensor(0.5)
    print(
        f"f'(0.5) = {df(x).item()}  (3x² + 4x + 3 = {3 * 0.5**2 + 4 * 0.5 + 3})"
    )
    print(f"f''(0.5) = {d2f(x).item()}  (6x + 4 = {6 * 0.5 + 4})")

    x_leaf = torch.tensor(0.5, requires_grad=True)
    (from_autograd,) = torch.autograd.grad(f(x_leaf), x_leaf)
    print("the same as torch.autograd.grad:", torch.equal(df(x), from_autograd))
    # --8<-- [end:func_grad]
    return {"df": df(x), "d2f": d2f(x), "from_autograd": from_autograd}


@example
def func_vmap():
    """vmap(grad(f)) evaluates the derivative at every point, one scalar problem per point."""
    # --8<-- [start:func_vmap]
    from torch.func import grad, vmap

    def f(x):
        return x**3 + 2 * x**2 + 3 * x + 1

    def z(x, y):
        return x**2 * y + 2 * x * y**3

    x = torch.linspace(0, 1, 100)
    df_each = vmap(grad(f))(x)                       # 100 derivatives, one call
    print("vmap(grad(f)), first three:", df_each[:3])

    X, Y = torch.meshgrid(x, torch.linspace(2, 1, 100), indexing="xy")
    dz_dX, dz_dY = vmap(grad(z, argnums=(0, 1)))(X.flatten(), Y.flatten())
    print("∂z/∂x, first three:", dz_dX[:3])
    print("∂z/∂y, first three:", dz_dY[:3])

    x_leaf = x.clone().requires_grad_()
    y = f(x_leaf)
    (from_autograd,) = torch.autograd.grad(y, x_leaf, torch.ones_like(y))
    print("the same as torch.autograd.grad:",
          torch.allclose(df_each, from_autograd))
    # --8<-- [end:func_vmap]
    return {"x": x, "df_each": df_each, "from_autograd": from_autograd,
            "X": X.flatten(), "Y": Y.flatten(), "dz_dX": dz_dX, "dz_dY": dz_dY}


@example
def per_sample_gradients():
    """The gradient of each sample's loss in the weights, which one backward pass cannot give."""
    # --8<-- [start:per_sample_gradients]
    from torch.func import grad, vmap

    def loss(w, x, target):      # one sample: model w0·x + w1·x², squared error
        prediction = w[0] * x + w[1] * x**2
        return (prediction - target) ** 2

    torch.manual_seed(0)
    xs = torch.rand(5)
    targets = 1.2 * xs - 3.4 * xs**2
    w = torch.zeros(2)

    # w shared, samples batched
    each = vmap(grad(loss), in_dims=(None, 0, 0))(w, xs, targets)
    print("one gradient per sample:\n", each)

    w_leaf = w.clone().requires_grad_()
    looped = torch.stack([torch.autograd.grad(loss(w_leaf, x, t), w_leaf)[0]
                          for x, t in zip(xs, targets)])
    (of_total,) = torch.autograd.grad(loss(w_leaf, xs, targets).sum(), w_leaf)
    print("equal to a loop of autograd.grad:", torch.allclose(each, looped))
    print("they add up to the gradient of the total loss:",
          torch.allclose(each.sum(0), of_total))
    # --8<-- [end:per_sample_gradients]
    return {"each": each, "looped": looped, "of_total": of_total}


@example
def func_jacrev():
    """jacrev builds the whole Jacobian of a vector function."""
    # --8<-- [start:func_jacrev]
    from torch.func import jacrev

    def f(v):
        return torch.stack([v[0] * v[1], v[1] * v[2], v[0]**2 + v[2]])

    v = torch.tensor([1.0, 2.0, 3.0])
    jacobian = jacrev(f)(v)
    print("jacrev(f)(v):\n", jacobian)

    v_leaf = v.clone().requires_grad_()
    (batched,) = torch.autograd.grad(
        f(v_leaf), v_leaf, torch.eye(3), is_grads_batched=True
    )
    print("the same as autograd.grad with is_grads_batched:",
          torch.equal(jacobian, batched))
    # --8<-- [end:func_jacrev]
    return {"v": v, "jacobian": jacobian, "batched": batched}


@example
def func_hessian():
    """hessian gives all second derivatives of z(x, y) at a point."""
    # --8<-- [start:func_hessian]
    from torch.func import hessian

    def z(p):
        x, y = p
        return x**2 * y + 2 * x * y**3

    p = torch.tensor([0.5, 1.5])
    H = hessian(z)(p)
    x, y = p
    exact = torch.stack([torch.stack([2 * y, 2 * x + 6 * y**2]),
                         torch.stack([2 * x + 6 * y**2, 12 * x * y])])
    print("hessian(z)(0.5, 1.5):\n", H)
    print("formula:\n", exact)

    p_leaf = p.clone().requires_grad_()
    (g,) = torch.autograd.grad(z(p_leaf), p_leaf, create_graph=True)
    rows = [
        torch.autograd.grad(g[i], p_leaf, retain_graph=True)[0]
        for i in range(2)
    ]
    print(
        "the same as autograd.grad twice:", torch.allclose(H, torch.stack(rows))
    )
    # --8<-- [end:func_hessian]
    return {"p": p, "H": H, "exact": exact, "by_autograd": torch.stack(rows)}


@example
def complex_gradient():
    """For a real loss of a complex z, .grad is dL/da + i dL/db (z = a + ib)."""
    # --8<-- [start:complex_gradient]
    z = torch.tensor([1 + 2j, -3 + 0.5j], dtype=torch.complex128,
                     requires_grad=True)
    L = (z.abs() ** 2).sum()                     # |z|² = a² + b², a real loss
    (grad_z,) = torch.autograd.grad(L, z)
    print("PyTorch's gradient:", grad_z)

    pairs = torch.view_as_real(z.detach()).clone().requires_grad_()
    (grad_pairs,) = torch.autograd.grad((pairs**2).sum(), pairs)
    print("dL/da + i dL/db   :", torch.view_as_complex(grad_pairs))
    print("2 z               :", 2 * z.detach())

    with torch.no_grad():                        # one step of gradient descent
        L_after = ((z - 0.1 * grad_z).abs() ** 2).sum()
    print(f"L = {L.item():.2f}; after a step against the gradient,",
          f"{L_after.item():.2f}")
    # --8<-- [end:complex_gradient]
    return {"z": z.detach(), "grad_z": grad_z, "grad_pairs": grad_pairs,
            "L": L.item(), "L_after": L_after.item()}


@example
def complex_chain_rule():
    """Through a holomorphic step w = f(z), backward multiplies by conj(f'(z))."""
    # --8<-- [start:complex_chain_rule]
    z = torch.tensor([1 + 2j, -3 + 0.5j], dtype=torch.complex128,
                     requires_grad=True)
    target = torch.tensor([1 + 0j, 2 + 2j], dtype=torch.complex128)
    w = z**2                                     # holomorphic: f'(z) = 2z
    L = ((w - target).abs() ** 2).sum()

    grad_w, grad_z = torch.autograd.grad(L, [w, z])
    print("gradient at w         :", grad_w)
    print("gradient at z         :", grad_z)
    print("conj(2z) * grad at w  :", (2 * z.detach()).conj() * grad_w)
    # --8<-- [end:complex_chain_rule]
    return {"z": z.detach(), "target": target, "grad_w": grad_w,
            "grad_z": grad_z}
