"""The kernel's shape: size, long modules and functions, import cycles, private reach, hops.

Reads the source of ``core/src/openrtc`` with ``ast`` (it never imports ``openrtc``) and prints
a compact report, so the same figures can be taken before and after a restructure:

1. lines per top-level group of the kernel: physical, and code (not blank, not only a comment;
   docstrings count as code);
2. modules over 300 physical lines;
3. functions and methods over 60 lines, from the ``def`` line to ``end_lineno``;
4. import cycles (strongly connected components of more than one module) among kernel modules:
   module-level imports only, then with deferred (function-level) imports, then with
   ``if TYPE_CHECKING:`` imports as well;
5. private names reached across kernel modules (``from openrtc.x import _y``, ``x._y`` on an
   imported kernel module), and kernel imports of other workspace members (contrib/ above all);
6. the static call chain to the function that calls ``AgentSession.start``, from the job
   entrypoint and from the request handler;
7. the count line of ``duplicates`` over core/ and plugins/, where that command is installed.

Usage:
    python tests/benchmarks/kernel_shape.py [--tree PATH | --rev REV] [--json FILE]
        [--entry QUALNAME] [--from QUALNAME] [--to QUALNAME ...]

A qualified name is ``module:Class.method`` (``openrtc.jobs:JobHandlers.handle_request``); a
nested function is ``module:outer.inner``. ``--rev`` measures a git revision in a temporary
worktree (``git worktree add --detach``), removed afterwards. Stdlib only.

What it does not see: an import of ``openrtc.a.b`` is an edge to ``openrtc.a.b`` alone (Python
also runs the ``openrtc`` and ``openrtc.a`` package inits first; counting those would fold
nearly every module into one cycle through ``openrtc/__init__.py``). ``importlib`` imports are
listed, not followed. The call graph follows calls whose target is known by name only
(``f()``, ``self.m()``, ``cls.m()``, ``super().m()``, ``module.f()``, ``Class.m()``,
``Class()`` to its ``__init__``); calls on attributes, parameters or locals of unknown type,
and functions handed to livekit as callbacks, are not edges.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
import tomllib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
KERNEL = "core/src/openrtc"
LONG_MODULE = 300
LONG_FUNCTION = 60
DEFAULT_ENTRY = "openrtc.jobs:JobHandlers.entrypoint"
DEFAULT_FROM = "openrtc.jobs:JobHandlers.handle_request"
MODULE_LEVEL, DEFERRED, TYPE_ONLY = "module", "deferred", "type_checking"
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)

# A reference an expression resolves to: ("module", name), ("symbol", module, name) for a name
# imported from a kernel module, ("func", qualname), ("class", qualname), ("instance", class
# qualname) for self, ("super", class qualname) for super().
Ref = tuple[str, ...]


# -- reading the tree -----------------------------------------------------------------------


@dataclass
class Module:
    name: str
    rel: str
    is_package: bool
    lines: int
    code_lines: int
    tree: ast.Module | None

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def group(self) -> str:
        parts = self.rel.split("/")
        return f"{parts[0]}/*.py" if len(parts) == 2 else "/".join(parts[:2])


_NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.ENCODING,
}


def count_code_lines(text: str) -> int:
    """Lines that are not blank and hold a token other than a comment (so a line of a
    docstring counts, a blank line inside one does not, and a ``#`` line inside one does)."""
    lines: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _NOT_CODE:
                lines.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        stripped = (line.strip() for line in text.splitlines())
        return sum(1 for line in stripped if line and not line.startswith("#"))
    text_lines = text.splitlines()
    return sum(1 for n in lines if n <= len(text_lines) and text_lines[n - 1].strip())


def read_kernel(kernel_dir: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(kernel_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(kernel_dir.parent).as_posix()
        parts = rel[: -len(".py")].split("/")
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        text = path.read_text(encoding="utf-8")
        try:
            tree: ast.Module | None = ast.parse(text, filename=rel)
        except SyntaxError:
            tree = None
        physical = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        modules[name] = Module(name, rel, is_package, physical, count_code_lines(text), tree)
    return modules


# -- imports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    src: str
    target: str  # the kernel module it loads, or the dotted name outside the kernel
    kind: str
    line: int
    kernel: bool
    private_names: tuple[str, ...] = ()


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def nodes_with_kind(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every node, with the kind an import there would be."""
    stack: list[tuple[ast.AST, str]] = [(tree, MODULE_LEVEL)]
    while stack:
        node, kind = stack.pop()
        yield node, kind
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend((child, TYPE_ONLY) for child in node.body)
            stack.extend((child, kind) for child in node.orelse)
            continue
        inner = kind
        if kind == MODULE_LEVEL and isinstance(node, (*FUNCTION_NODES, ast.Lambda)):
            inner = DEFERRED
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class Kernel:
    """The kernel's modules, with their imports, names and functions."""

    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self.imports: list[Import] = []
        self.dynamic_imports: list[dict[str, Any]] = []
        # names an import binds: module-wide (runtime and TYPE_CHECKING), and per function node
        self.module_bindings: dict[str, dict[str, Ref]] = {name: {} for name in modules}
        self.local_bindings: dict[ast.AST, dict[str, Ref]] = {}
        self.all_bindings: dict[str, dict[str, Ref]] = {name: {} for name in modules}
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.top_functions: dict[str, dict[str, str]] = {name: {} for name in modules}
        self.top_classes: dict[str, dict[str, str]] = {name: {} for name in modules}
        for module in modules.values():
            if module.tree is not None:
                self._read_imports(module)
                self._read_definitions(module)

    def kernel_module(self, dotted: str) -> str | None:
        """The longest kernel module ``dotted`` names (itself or a parent package)."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.modules:
                return candidate
        return None

    def _bind(self, module: Module, owner: ast.AST | None, kind: str, name: str, ref: Ref) -> None:
        self.all_bindings[module.name][name] = ref
        if owner is not None:
            self.local_bindings.setdefault(owner, {})[name] = ref
        elif kind != DEFERRED:
            self.module_bindings[module.name][name] = ref

    def _add(self, module: Module, target: str, kind: str, line: int, private=()) -> None:
        found = self.kernel_module(target)
        self.imports.append(
            Import(module.name, found or target, kind, line, found is not None, tuple(private))
        )

    def _read_imports(self, module: Module) -> None:
        assert module.tree is not None
        owners = _innermost_function(module.tree)
        for node, kind in nodes_with_kind(module.tree):
            owner = owners.get(node)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._add(module, alias.name, kind, node.lineno)
                    found = self.kernel_module(alias.name)
                    if found is None:
                        continue
                    if alias.asname:
                        self._bind(module, owner, kind, alias.asname, ("module", found))
                    else:
                        top = alias.name.split(".")[0]
                        if top in self.modules:
                            self._bind(module, owner, kind, top, ("module", top))
            elif isinstance(node, ast.ImportFrom):
                base = self._from_base(module, node)
                if base is None:
                    continue
                plain: list[str] = []
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    bound = alias.asname or alias.name
                    if submodule in self.modules:
                        self._add(module, submodule, kind, node.lineno)
                        self._bind(module, owner, kind, bound, ("module", submodule))
                    else:
                        plain.append(alias.name)
                        found = self.kernel_module(base)
                        if found is not None and alias.name != "*":
                            self._bind(module, owner, kind, bound, ("symbol", found, alias.name))
                if plain:
                    private = [name for name in plain if is_private(name)]
                    self._add(module, base, kind, node.lineno, private)
            elif isinstance(node, ast.Call) and _is_import_module(node):
                arg = node.args[0] if node.args else None
                literal = arg.value if isinstance(arg, ast.Constant) else None
                self.dynamic_imports.append(
                    {
                        "module": module.name,
                        "line": node.lineno,
                        "kind": kind,
                        "target": literal if isinstance(literal, str) else None,
                        "expr": ast.unparse(node),
                    }
                )

    def _from_base(self, module: Module, node: ast.ImportFrom) -> str | None:
        if not node.level:
            return node.module
        parts = module.package.split(".")
        up = node.level - 1
        if up > len(parts) - 1:
            return None
        base = parts[: len(parts) - up]
        return ".".join(base + ([node.module] if node.module else []))

    # -- definitions, for the call graph

    def _read_definitions(self, module: Module) -> None:
        assert module.tree is not None

        def visit(body: list[ast.stmt], prefix: str, cls: str | None, parent: Function | None):
            for node in body:
                if isinstance(node, FUNCTION_NODES):
                    qual = f"{module.name}:{prefix}{node.name}"
                    fn = Function(qual, module.name, node, cls, parent)
                    self.functions[qual] = fn
                    if cls is not None:
                        self.classes[cls].methods.setdefault(node.name, qual)
                    elif parent is not None:
                        parent.local_defs[node.name] = qual
                    else:
                        self.top_functions[module.name][node.name] = qual
                    visit(node.body, f"{prefix}{node.name}.", None, fn)
                elif isinstance(node, ast.ClassDef):
                    key = f"{module.name}:{prefix}{node.name}"
                    self.classes[key] = ClassInfo(key, module.name, node, parent)
                    if parent is None and cls is None:
                        self.top_classes[module.name][node.name] = key
                    visit(node.body, f"{prefix}{node.name}.", key, parent)
                else:
                    # defs under if/try/with at the same level
                    for attr in ("body", "orelse", "finalbody", "handlers"):
                        inner = getattr(node, attr, None)
                        if isinstance(inner, list) and inner and isinstance(inner[0], ast.AST):
                            visit(inner, prefix, cls, parent)  # type: ignore[arg-type]

        visit(module.tree.body, "", None, None)


def _innermost_function(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    owners: dict[ast.AST, ast.AST] = {}

    def walk(node: ast.AST, owner: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            if owner is not None:
                owners[child] = owner
            walk(child, child if isinstance(child, FUNCTION_NODES) else owner)

    walk(tree, None)
    return owners


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in {"import_module", "__import__"}


# -- the call graph ---------------------------------------------------------------------------


@dataclass
class ClassInfo:
    key: str
    module: str
    node: ast.ClassDef
    parent: Function | None
    methods: dict[str, str] = field(default_factory=dict)


@dataclass
class Function:
    qual: str
    module: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: str | None
    parent: Function | None
    local_defs: dict[str, str] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return (self.node.end_lineno or self.node.lineno) - self.node.lineno + 1


def own_nodes(fn: Function) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of the functions and classes it defines."""
    stack: list[ast.AST] = [*fn.node.body]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            # decorators and defaults run here; the body does not
            stack.extend(getattr(node, "decorator_list", []))
            continue
        stack.extend(ast.iter_child_nodes(node))


class CallGraph:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.edges: dict[str, set[str]] = {}
        self.unresolved: dict[str, list[str]] = {}
        for fn in kernel.functions.values():
            targets: set[str] = set()
            unresolved: list[str] = []
            for node in own_nodes(fn):
                if not isinstance(node, ast.Call):
                    continue
                ref = self.resolve(node.func, fn)
                if ref is not None and ref[0] == "func":
                    targets.add(ref[1])
                elif ref is not None and ref[0] == "class":
                    targets.update(self.constructors(ref[1]))
                else:
                    unresolved.append(ast.unparse(node.func))
            self.edges[fn.qual] = targets
            self.unresolved[fn.qual] = unresolved

    def bases(self, key: str) -> list[str]:
        info = self.kernel.classes[key]
        scope = info.parent
        found = []
        for base in info.node.bases:
            ref = self.resolve(base, scope) if scope else self.resolve_in_module(base, info.module)
            if ref is not None and ref[0] == "class":
                found.append(ref[1])
        return found

    def lookup(self, key: str, name: str, seen: set[str] | None = None) -> str | None:
        seen = seen if seen is not None else set()
        if key in seen or key not in self.kernel.classes:
            return None
        seen.add(key)
        if name in self.kernel.classes[key].methods:
            return self.kernel.classes[key].methods[name]
        for base in self.bases(key):
            found = self.lookup(base, name, seen)
            if found:
                return found
        return None

    def constructors(self, key: str) -> list[str]:
        names = ("__new__", "__init__", "__attrs_post_init__", "__post_init__")
        return [qual for name in names if (qual := self.lookup(key, name))]

    def symbol(self, module: str, name: str, depth: int = 0) -> Ref | None:
        if depth > 10:
            return None
        kernel = self.kernel
        if name in kernel.top_functions.get(module, {}):
            return ("func", kernel.top_functions[module][name])
        if name in kernel.top_classes.get(module, {}):
            return ("class", kernel.top_classes[module][name])
        bound = kernel.module_bindings.get(module, {}).get(name)
        if bound is not None:
            return self.follow(bound, depth + 1)
        if f"{module}.{name}" in kernel.modules:
            return ("module", f"{module}.{name}")
        return None

    def follow(self, ref: Ref, depth: int = 0) -> Ref | None:
        if ref[0] == "symbol":
            return self.symbol(ref[1], ref[2], depth)
        return ref

    def resolve_in_module(self, expr: ast.expr, module: str) -> Ref | None:
        if isinstance(expr, ast.Name):
            return self.symbol(module, expr.id)
        if isinstance(expr, ast.Attribute):
            return self.attribute(self.resolve_in_module(expr.value, module), expr.attr)
        return None

    def attribute(self, ref: Ref | None, attr: str) -> Ref | None:
        if ref is None:
            return None
        if ref[0] == "module":
            return self.symbol(ref[1], attr)
        if ref[0] in {"class", "instance"}:
            found = self.lookup(ref[1], attr)
            return ("func", found) if found else None
        if ref[0] == "super":
            for base in self.bases(ref[1]):
                found = self.lookup(base, attr)
                if found:
                    return ("func", found)
        return None

    def resolve(self, expr: ast.expr, fn: Function | None) -> Ref | None:
        if fn is None:
            return None
        if isinstance(expr, ast.Name):
            return self.name(expr.id, fn)
        if isinstance(expr, ast.Attribute):
            return self.attribute(self.resolve(expr.value, fn), expr.attr)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.func.id == "super"
            and fn.cls is not None
        ):
            return ("super", fn.cls)
        return None

    def name(self, name: str, fn: Function) -> Ref | None:
        if fn.cls is not None:
            args = fn.node.args.posonlyargs + fn.node.args.args
            decorators = {getattr(d, "id", None) for d in fn.node.decorator_list}
            if args and args[0].arg == name and "staticmethod" not in decorators:
                return ("class" if "classmethod" in decorators else "instance", fn.cls)
        scope: Function | None = fn
        while scope is not None:
            if name in scope.local_defs:
                return ("func", scope.local_defs[name])
            local = self.kernel.local_bindings.get(scope.node, {})
            if name in local:
                return self.follow(local[name])
            scope = scope.parent
        return self.symbol(fn.module, name)

    def shortest_path(self, start: str, targets: set[str]) -> list[str] | None:
        previous: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            if current in targets:
                path = [current]
                while (step := previous[path[-1]]) is not None:
                    path.append(step)
                return path[::-1]
            for nxt in sorted(self.edges.get(current, ())):
                if nxt not in previous:
                    previous[nxt] = current
                    queue.append(nxt)
        return None

    def reachable(self, start: str) -> list[str]:
        seen = {start}
        queue = deque([start])
        while queue:
            for nxt in self.edges.get(queue.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return sorted(seen)


def session_start_sites(kernel: Kernel) -> list[str]:
    """Functions that call ``x.start(agent=...)``, ``session.start(...)`` or ``.start(...)`` on
    a local made by ``AgentSession(...)``."""
    found = []
    for fn in kernel.functions.values():
        made: set[str] = set()
        calls = []
        for node in own_nodes(fn):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
                callee = node.value.func
                callee_name = getattr(callee, "attr", None) or getattr(callee, "id", None)
                if callee_name == "AgentSession":
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    made.update(t.id for t in targets if isinstance(t, ast.Name))
            if isinstance(node, ast.Call):
                calls.append(node)
        for call in calls:
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "start"):
                continue
            receiver = func.value.id if isinstance(func.value, ast.Name) else None
            if any(k.arg == "agent" for k in call.keywords) or receiver in {"session", *made}:
                found.append(fn.qual)
                break
    return sorted(found)


def find_function(kernel: Kernel, qual: str) -> tuple[str | None, str]:
    if qual in kernel.functions:
        return qual, ""
    tail = qual.split(":")[-1]
    candidates = sorted(
        q for q in kernel.functions if q.endswith(f":{tail}") or q.endswith(f".{tail}")
    )
    if len(candidates) == 1:
        return candidates[0], f"{qual} not found; using the only match {candidates[0]}"
    if candidates:
        return None, f"{qual} not found; candidates: {', '.join(candidates)}"
    return None, f"{qual} not found in the kernel"


def chain(graph: CallGraph, start_name: str, targets: list[str], note: str) -> dict[str, Any]:
    start, why = find_function(graph.kernel, start_name)
    result: dict[str, Any] = {"from": start_name, "resolved_from": start, "targets": targets}
    if start is None:
        return result | {"path": None, "reason": why}
    if not targets:
        return result | {"path": None, "reason": "no function that calls AgentSession.start"}
    path = graph.shortest_path(start, set(targets))
    if path is not None:
        return result | {
            "path": path,
            "functions": len(path),
            "hops": len(path) - 1,
            "note": why,
        }
    reached = graph.reachable(start)
    builtin_names = set(dir(builtins))
    unresolved = sorted(
        {call for q in reached for call in graph.unresolved[q] if call not in builtin_names}
    )
    reason = (
        f"{len(reached)} function(s) statically reachable from {start}, none of them a target"
        f"{'; ' + why if why else ''}; {note}"
    )
    return result | {
        "path": None,
        "reason": reason,
        "reachable": reached,
        "unresolved_calls": unresolved,
    }


# -- cycles ---------------------------------------------------------------------------------


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; components of more than one node, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components, key=lambda c: (-len(c), c))


def cycles(kernel: Kernel) -> dict[str, Any]:
    layers = {
        "module_level": {MODULE_LEVEL},
        "with_deferred": {MODULE_LEVEL, DEFERRED},
        "with_type_checking": {MODULE_LEVEL, DEFERRED, TYPE_ONLY},
    }
    kernel_imports = [i for i in kernel.imports if i.kernel and i.src != i.target]
    counts = {kind: 0 for kind in (MODULE_LEVEL, DEFERRED, TYPE_ONLY)}
    for imp in kernel_imports:
        counts[imp.kind] += 1
    result: dict[str, Any] = {"kernel_import_statements": counts}
    nodes = sorted(kernel.modules)
    for layer, kinds in layers.items():
        edges: dict[str, set[str]] = {}
        for imp in kernel_imports:
            if imp.kind in kinds:
                edges.setdefault(imp.src, set()).add(imp.target)
        components = []
        for members in strongly_connected(nodes, edges):
            inside = set(members)
            weak = sorted(
                {
                    f"{i.src} -> {i.target} ({kernel.modules[i.src].rel}:{i.line}, {i.kind})"
                    for i in kernel_imports
                    if i.src in inside
                    and i.target in inside
                    and i.kind != MODULE_LEVEL
                    and i.kind in kinds
                    and not _also_module_level(kernel_imports, i.src, i.target)
                }
            )
            components.append(
                {
                    "members": members,
                    "example": _label(shortest_cycle(members, edges), kernel_imports, kinds),
                    "edges_not_module_level": weak,
                }
            )
        result[layer] = {"count": len(components), "components": components}
    return result


def shortest_cycle(members: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first member, as a list that ends where it
    starts."""
    start, inside = members[0], set(members)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in sorted(edges.get(current, ())):
            if nxt not in inside:
                continue
            if nxt == start:
                path = [current]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*path[::-1], start]
            if nxt not in previous:
                previous[nxt] = current
                queue.append(nxt)
    return []


def _label(cycle: list[str], imports: list[Import], kinds: set[str]) -> str:
    """``a -> b -[deferred]-> c``: each step marked with the strongest kind of import it has."""
    if not cycle:
        return ""
    text = cycle[0]
    for src, target in pairwise(cycle):
        present = {i.kind for i in imports if i.src == src and i.target == target} & kinds
        kind = next(k for k in (MODULE_LEVEL, DEFERRED, TYPE_ONLY) if k in present)
        text += f" -> {target}" if kind == MODULE_LEVEL else f" -[{kind}]-> {target}"
    return text


def _also_module_level(imports: list[Import], src: str, target: str) -> bool:
    return any(i.src == src and i.target == target and i.kind == MODULE_LEVEL for i in imports)


# -- private reach and other workspace members ------------------------------------------------


def private_access(kernel: Kernel) -> dict[str, Any]:
    imported = [
        {
            "module": imp.src,
            "line": imp.line,
            "from": imp.target,
            "names": list(imp.private_names),
            "kind": imp.kind,
        }
        for imp in kernel.imports
        if imp.kernel and imp.private_names and imp.src != imp.target
    ]
    attributes = []
    for name, module in kernel.modules.items():
        if module.tree is None:
            continue
        bindings = kernel.all_bindings[name]

        def module_of(expr: ast.expr, bindings: dict[str, Ref] = bindings) -> str | None:
            if isinstance(expr, ast.Name):
                ref = bindings.get(expr.id)
                return ref[1] if ref and ref[0] == "module" else None
            if isinstance(expr, ast.Attribute):
                inner = module_of(expr.value)
                if inner and f"{inner}.{expr.attr}" in kernel.modules:
                    return f"{inner}.{expr.attr}"
            return None

        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                owner = module_of(node.value)
                if owner and owner != name:
                    attributes.append(
                        {"module": name, "line": node.lineno, "expr": ast.unparse(node)}
                    )
    # rough: x._name where x is neither self nor cls nor a kernel module (objects of other
    # kernel classes, and of livekit's, alike: their types are not inferred)
    other: dict[str, int] = {}
    for name, module in kernel.modules.items():
        for node in ast.walk(module.tree) if module.tree is not None else ():
            if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
                continue
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in {"self", "cls"}:
                continue
            if any(a["module"] == name and a["line"] == node.lineno for a in attributes):
                continue
            other[module.group] = other.get(module.group, 0) + 1
    return {
        "private_attributes_on_other_objects_rough": other,
        "private_name_imports": imported,
        "private_name_import_count": sum(len(i["names"]) for i in imported),
        "private_module_attributes": attributes,
        "private_module_attribute_count": len(attributes),
    }


def workspace_members(root: Path, kernel_dir: Path) -> dict[str, str]:
    """Import name -> member directory (relative), for every workspace member but the kernel's."""
    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    patterns = config.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    names: dict[str, str] = {}
    for pattern in patterns:
        for member in sorted(root.glob(pattern)):
            if not member.is_dir() or kernel_dir.resolve().is_relative_to(member.resolve()):
                continue
            src = member / "src" if (member / "src").is_dir() else member
            for entry in sorted(src.iterdir()):
                if entry.is_dir() and (entry / "__init__.py").exists():
                    names[entry.name] = member.relative_to(root).as_posix()
                elif entry.suffix == ".py" and src != member:
                    names[entry.stem] = member.relative_to(root).as_posix()
    return names


def member_imports(kernel: Kernel, members: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for imp in kernel.imports:
        top = imp.target.split(".")[0]
        if not imp.kernel and top in members:
            found.append(
                {
                    "module": imp.src,
                    "line": imp.line,
                    "imports": imp.target,
                    "member": members[top],
                    "kind": imp.kind,
                }
            )
    for dyn in kernel.dynamic_imports:
        top = (dyn["target"] or "").split(".")[0]
        if top in members:
            found.append(
                {
                    "module": dyn["module"],
                    "line": dyn["line"],
                    "imports": dyn["target"],
                    "member": members[top],
                    "kind": dyn["kind"] + ", importlib",
                }
            )
    return sorted(found, key=lambda f: (f["member"], f["module"], f["line"]))


# -- duplicates -----------------------------------------------------------------------------


def run_duplicates(root: Path) -> dict[str, Any]:
    exe = shutil.which("duplicates")
    if exe is None:
        return {"available": False}
    result: dict[str, Any] = {"available": True}
    for repo in ("core", "plugins"):
        command = ["duplicates", "--repo", repo, "--most", "200"]
        if not (root / repo).is_dir():
            result[repo] = {"command": " ".join(command), "error": f"no {repo}/ in the tree"}
            continue
        try:
            proc = subprocess.run(
                [exe, *command[1:]],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired:
            result[repo] = {"command": " ".join(command), "error": "timed out after 900 s"}
            continue
        lines = proc.stdout.splitlines()
        result[repo] = {
            "command": " ".join(command),
            "count_line": lines[0] if lines else proc.stderr.strip(),
            "rows": sum(1 for line in lines if re.match(r"D\d+ ", line)),
            "notes": [line for line in lines if line.startswith(("incomplete:", "left out:"))],
        }
    return result


# -- measuring ------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def measure(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    kernel_dir = root / KERNEL
    if not kernel_dir.is_dir():
        raise SystemExit(f"no kernel at {kernel_dir}")
    modules = read_kernel(kernel_dir)
    kernel = Kernel(modules)
    graph = CallGraph(kernel)

    groups: dict[str, dict[str, int]] = {}
    for module in modules.values():
        row = groups.setdefault(module.group, {"files": 0, "lines": 0, "code_lines": 0})
        row["files"] += 1
        row["lines"] += module.lines
        row["code_lines"] += module.code_lines
    ordered = dict(sorted(groups.items(), key=lambda kv: (not kv[0].endswith("*.py"), kv[0])))

    long_modules = sorted(
        ({"path": m.rel, "lines": m.lines} for m in modules.values() if m.lines > LONG_MODULE),
        key=lambda m: (-m["lines"], m["path"]),
    )
    long_functions = sorted(
        (
            {
                "name": fn.qual,
                "lines": fn.length,
                "path": f"{modules[fn.module].rel}:{fn.node.lineno}",
            }
            for fn in kernel.functions.values()
            if fn.length > LONG_FUNCTION
        ),
        key=lambda f: (-f["lines"], f["name"]),
    )

    sites = args.to or session_start_sites(kernel)
    targets = [q for q in (find_function(kernel, t)[0] for t in sites) if q]
    handoff = "livekit runs the entrypoint later through its executor, which is not a static edge"
    chains = {
        "entrypoint": chain(graph, args.entry, targets, "no chain of resolved calls reaches it"),
        "request_handler": chain(graph, args.start, targets, handoff),
    }

    members = workspace_members(root, kernel_dir)
    to_members = member_imports(kernel, members)
    contrib = [m for m in to_members if m["member"].startswith("contrib/")]

    return {
        "tree": str(root),
        "kernel": KERNEL,
        "unparsed": sorted(m.rel for m in modules.values() if m.tree is None),
        "lines": {
            "groups": ordered,
            "total": {
                "files": len(modules),
                "lines": sum(m.lines for m in modules.values()),
                "code_lines": sum(m.code_lines for m in modules.values()),
            },
        },
        "long_modules": long_modules,
        "long_functions": long_functions,
        "cycles": cycles(kernel),
        "private": private_access(kernel),
        "kernel_imports_of_contrib": contrib,
        "kernel_imports_of_other_members": [m for m in to_members if m not in contrib],
        "dynamic_imports": kernel.dynamic_imports,
        "session_start": {"auto_detected": session_start_sites(kernel), "targets": targets},
        "call_graph": {
            "functions": len(graph.edges),
            "edges": sum(len(e) for e in graph.edges.values()),
        },
        "chains": chains,
        "duplicates": run_duplicates(root),
    }


# -- the report -----------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    add(f"kernel shape of {report['kernel']} in {report['tree']}")
    if report.get("revision"):
        add(f"revision: {report['revision']}")
    if report["unparsed"]:
        add(f"NOT PARSED (left out of 3-6): {', '.join(report['unparsed'])}")

    add("\n1. lines per group            files    lines     code")
    for group, row in report["lines"]["groups"].items():
        add(f"   {group:<28}{row['files']:>5}{row['lines']:>9}{row['code_lines']:>9}")
    total = report["lines"]["total"]
    add(f"   {'total':<28}{total['files']:>5}{total['lines']:>9}{total['code_lines']:>9}")

    add(f"\n2. modules over {LONG_MODULE} lines: {len(report['long_modules'])}")
    for module in report["long_modules"]:
        add(f"   {module['lines']:>5}  {module['path']}")

    add(f"\n3. functions over {LONG_FUNCTION} lines: {len(report['long_functions'])}")
    for fn in report["long_functions"]:
        add(f"   {fn['lines']:>5}  {fn['name']}  ({fn['path']})")

    cyc = report["cycles"]
    counts = cyc["kernel_import_statements"]
    add(
        "\n4. import cycles (kernel imports: "
        f"{counts[MODULE_LEVEL]} module-level, {counts[DEFERRED]} deferred, "
        f"{counts[TYPE_ONLY]} under TYPE_CHECKING)"
    )
    titles = {
        "module_level": "module-level cycles",
        "with_deferred": "cycles including deferred (function-level) imports",
        "with_type_checking": "cycles including TYPE_CHECKING imports too",
    }
    for layer, title in titles.items():
        add(f"   {title}: {cyc[layer]['count']}")
        for component in cyc[layer]["components"]:
            add(f"     [{len(component['members'])}] {', '.join(component['members'])}")
            add(f"         e.g. {component['example']}")
            if layer != "module_level":
                for edge in component["edges_not_module_level"]:
                    add(f"         via {edge}")

    private = report["private"]
    add(
        f"\n5. private names across kernel modules: {private['private_name_import_count']} "
        f"imported, {private['private_module_attribute_count']} module._name accesses"
    )
    for imp in private["private_name_imports"]:
        add(
            f"   {imp['module']}:{imp['line']} from {imp['from']} import "
            f"{', '.join(imp['names'])} ({imp['kind']})"
        )
    for attr in private["private_module_attributes"]:
        add(f"   {attr['module']}:{attr['line']} {attr['expr']}")
    rough = private["private_attributes_on_other_objects_rough"]
    add(
        "   rough: x._name on any other receiver (not self/cls, type not inferred): "
        + (", ".join(f"{group} {n}" for group, n in sorted(rough.items())) or "none")
    )
    contrib = report["kernel_imports_of_contrib"]
    add(f"   kernel imports of contrib: {len(contrib)}")
    for imp in contrib:
        add(f"     {imp['module']}:{imp['line']} {imp['imports']} ({imp['member']}, {imp['kind']})")
    others = report["kernel_imports_of_other_members"]
    add(f"   kernel imports of other workspace members: {len(others)}")
    for imp in others:
        add(f"     {imp['module']}:{imp['line']} {imp['imports']} ({imp['member']}, {imp['kind']})")
    dynamic = report["dynamic_imports"]
    if dynamic:
        add(f"   importlib imports (not in the graph): {len(dynamic)}")
        for dyn in dynamic:
            add(f"     {dyn['module']}:{dyn['line']} {dyn['expr']}")

    start = report["session_start"]
    graph = report["call_graph"]
    add(
        f"\n6. hops to AgentSession.start (call graph: {graph['functions']} functions, "
        f"{graph['edges']} resolved call edges)"
    )
    add(f"   session start sites: {', '.join(start['targets']) or 'none found'}")
    for label, result in report["chains"].items():
        add(f"   ({'a' if label == 'entrypoint' else 'b'}) from {result['from']}:")
        if result.get("note"):
            add(f"       note: {result['note']}")
        if result["path"] is None:
            add(f"       no static path: {result['reason']}")
            if result.get("reachable"):
                add(f"       reachable: {', '.join(result['reachable'])}")
            if result.get("unresolved_calls"):
                shown = result["unresolved_calls"][:15]
                more = len(result["unresolved_calls"]) - len(shown)
                add(
                    "       calls not resolved there: "
                    + ", ".join(shown)
                    + (f" (+{more} more)" if more > 0 else "")
                )
        else:
            add(f"       {result['functions']} functions, {result['hops']} hops:")
            add("       " + " -> ".join(result["path"]))

    dup = report["duplicates"]
    add("\n7. duplicates")
    if not dup["available"]:
        add("   `duplicates` is not on PATH: not measured")
    else:
        for repo in ("core", "plugins"):
            row = dup[repo]
            add(f"   {row['command']}: {row.get('count_line') or row.get('error')}")
            for note in row.get("notes", []):
                add(f"     {note}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=REPO_ROOT, help="the tree to measure")
    parser.add_argument("--rev", help="measure this git revision (of --tree's repository)")
    parser.add_argument("--json", type=Path, help="also write every figure here as JSON")
    parser.add_argument("--entry", default=DEFAULT_ENTRY, help="the job entrypoint")
    parser.add_argument(
        "--from", dest="start", default=DEFAULT_FROM, help="the job request handler"
    )
    parser.add_argument(
        "--to",
        action="append",
        help="a function that starts the session (repeatable; default: auto-detect)",
    )
    args = parser.parse_args()
    tree = args.tree.resolve()

    if args.rev:
        top = git(tree, "rev-parse", "--show-toplevel")
        commit = git(tree, "rev-parse", "--verify", f"{args.rev}^{{commit}}")
        if top is None or commit is None:
            raise SystemExit(f"cannot resolve revision {args.rev!r} in {tree}")
        scratch = Path(tempfile.mkdtemp(prefix="kernel-shape-"))
        worktree = scratch / "tree"
        added = subprocess.run(
            ["git", "-C", top, "worktree", "add", "--detach", str(worktree), commit],
            capture_output=True,
            text=True,
            check=False,
        )
        if added.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise SystemExit(f"git worktree add failed: {added.stderr.strip()}")
        try:
            report = measure(worktree, args)
        finally:
            subprocess.run(
                ["git", "-C", top, "worktree", "remove", "--force", str(worktree)],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(scratch, ignore_errors=True)
        subject = git(tree, "log", "-1", "--format=%h %s", commit)
        report["revision"] = f"{args.rev} = {subject}"
        report["tree"] = f"{top} at {args.rev} (temporary worktree, removed)"
    else:
        report = measure(tree, args)
        head = git(tree, "log", "-1", "--format=%h %s")
        if head is not None:
            dirty = git(tree, "status", "--porcelain", "--untracked-files=no", "--", KERNEL)
            report["revision"] = f"working tree at {head}" + (
                " (kernel has uncommitted changes)" if dirty else ""
            )

    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
