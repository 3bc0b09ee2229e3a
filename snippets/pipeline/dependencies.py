"""What an example uses from its module: one analysis, for the cache key and the runnable copies.

An example uses every module-level statement that binds a name its function reads as a global,
then, transitively, the statements binding the names those read, every module-level
statement that binds no name (settings such as ``torch.set_printoptions``), and every
definition that registers itself on a used definition through a decorator such as
``@op.register_fake`` (nothing reads its name, yet the operator needs it). Other examples
are never part of it. Names follow Python's own scoping (`symtable`): a local variable
that happens to share a module-level name does not pull that definition in, and an import
counts as the definition of the names it binds.

The cache key hashes this code ([`own_code`][snippets.pipeline.dependencies.own_code]); the downloads build each example's
runnable copy from the same statements ([`used_statements`][snippets.pipeline.dependencies.used_statements]). Reads sources only.
"""

from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, replace
from functools import lru_cache

from .examples import Example, is_example, module_source


@dataclass(frozen=True)
class Statement:
    """A module-level statement: its lines (decorators included), the names it binds (empty for
    a setting, which every example uses) and the module-level names it reads."""

    node: ast.stmt
    first: int
    last: int
    binds: frozenset[str]
    reads: frozenset[str]
    registers_on: frozenset[str] = frozenset()


@lru_cache(maxsize=64)
def parse(source: str) -> ast.Module:
    """Parsed once per distinct source text: a build asks for every example's key.

    Examples:
        >>> parse("x = 1").body[0].lineno
        1
    """
    return ast.parse(source)


def used_statements(source: str, name: str) -> list[Statement]:
    """The module-level statements the example ``name`` of a module's ``source`` uses, in
    source order, its own function excluded (see the module's docstring for what counts).

    Examples:
        >>> source = ("import math\\nimport os\\nSCALE = 2\\nUNUSED = 3\\n"
        ...           "def half(x):\\n    return x / SCALE\\n"
        ...           "@example\\ndef demo():\\n    SCALE = 'local'\\n    print(half(math.pi))\\n")
        >>> [ast.unparse(s.node).splitlines()[0] for s in used_statements(source, "demo")]
        ['import math', 'SCALE = 2', 'def half(x):']
        >>> source = ("def op(x):\\n    return x\\n@op.register_fake\\ndef _shape(x):\\n    return x\\n"
        ...           "@example\\ndef demo():\\n    print(op(1))\\n")
        >>> [s.node.name for s in used_statements(source, "demo")]
        ['op', '_shape']
    """
    statements, own = module_statements(source), _own_reads(source, name)
    binding: dict[str, list[Statement]] = {}
    for statement in statements:
        for bound in statement.binds | statement.registers_on:
            binding.setdefault(bound, []).append(statement)
    used = {id(s): s for s in statements if not s.binds}
    pending = [own, *(s.reads for s in used.values())]
    while pending:
        for read in pending.pop():
            for statement in binding.pop(read, []):
                if id(statement) not in used:
                    used[id(statement)] = statement
                    pending.append(statement.reads)
    return sorted(used.values(), key=lambda s: s.first)


def own_code(example: Example) -> str:
    """The example's function and the statements it uses, and any other example it calls (with
    what that one uses), as source text: what its cache key hashes, so that an edit to anything
    else in its module does not re-run it, and an edit to an example it calls does.

    Examples:
        >>> code = own_code(Example("autograd_basics", "chain_rule", 1))
        >>> "def chain_rule" in code, "import torch" in code, "def accumulation" in code
        (True, True, False)
    """
    source = module_source(example.module)
    functions = {n.name: n for n in parse(source).body if isinstance(n, ast.FunctionDef)}
    others = {name for name, node in functions.items() if is_example(node)}
    chosen, pending, seen = set(), [example.name], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        used = used_statements(source, name)
        chosen |= {(_first_line(functions[name]), functions[name].end_lineno)} | {(s.first, s.last) for s in used}
        reads = _own_reads(source, name).union(*(s.reads for s in used))
        pending += sorted((reads & others) - seen)
    lines = source.splitlines()
    return "\n".join("\n".join(lines[first - 1:last]) for first, last in sorted(chosen))


@lru_cache(maxsize=64)
def module_statements(source: str) -> tuple[Statement, ...]:
    """Every module-level statement of a source but its docstring and the examples.

    Examples:
        >>> [(s.first, sorted(s.binds), sorted(s.reads)) for s in module_statements("import torch\\nx = torch.ones(2)")]
        [(1, ['torch'], []), (2, ['x'], ['torch'])]
    """
    body = parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the module docstring changes no output
    lines = source.splitlines()
    found = []
    for node in body:
        if is_example(node):
            continue
        first = _first_line(node)
        text = "\n".join(lines[first - 1:node.end_lineno])
        found.append(Statement(node, first, node.end_lineno, _binds(node), _global_reads(text)))
    defined = {name for s in found if not isinstance(s.node, (ast.Import, ast.ImportFrom)) for name in s.binds}
    return tuple(replace(s, registers_on=_decorated_by(s.node) & defined) for s in found)


def _own_reads(source: str, name: str) -> frozenset[str]:
    """The module-level names the example's function reads when it runs (not its decorator)."""
    own = next((n for n in parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if own is None:
        raise ValueError(f"no function {name!r} in the module")
    text = "\n".join(source.splitlines()[_first_line(own) - 1:own.end_lineno])
    return _global_reads(text, body_only=True)


@lru_cache(maxsize=4096)
def _global_reads(text: str, body_only: bool = False) -> frozenset[str]:
    """Names a statement's text reads from the module: at its own level, and in the functions
    and classes inside it those that are neither local nor from an enclosing function.
    ``body_only``: only inside the one function the text defines."""
    table = symtable.symtable(text, "<statement>", "exec")
    found: set[str] = set()

    def inner(scope):
        found.update(s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced())
        for child in scope.get_children():
            inner(child)

    if body_only:
        for child in table.get_children():
            inner(child)
    else:
        found.update(s.get_name() for s in table.get_symbols() if s.is_referenced())
        for child in table.get_children():
            inner(child)
    return frozenset(found)


def _binds(node: ast.stmt) -> frozenset[str]:
    """The names a definition binds; empty for statements that every example runs."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return frozenset([node.name])
    if isinstance(node, ast.Import):
        return frozenset(alias.asname or alias.name.split(".")[0] for alias in node.names)
    if isinstance(node, ast.ImportFrom) and node.module != "__future__":
        names = [alias.asname or alias.name for alias in node.names]
        return frozenset(names) if "*" not in names else frozenset()
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t for target in targets
                 for t in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target])]
        if all(isinstance(t, ast.Name) for t in names):
            return frozenset(t.id for t in names)
    return frozenset()


def _decorated_by(node: ast.stmt) -> frozenset[str]:
    """The names whose attributes decorate a definition: ``op`` for ``@op.register_fake``."""
    roots = set()
    for decorator in getattr(node, "decorator_list", []):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if not isinstance(target, ast.Attribute):
            continue
        while isinstance(target, ast.Attribute):
            target = target.value
        if isinstance(target, ast.Name):
            roots.add(target.id)
    return frozenset(roots)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
