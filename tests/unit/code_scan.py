"""What the project's Python calls, read from its source (no import, nothing run).

``CodeIndex`` parses every module of the project's packages and builds a call graph
between their functions by name: a plain call or reference resolved through the module's
own definitions and imports, ``self.m`` to the class's methods, ``module.f`` to the
imported module's function, a method of an object store (``store.put``) to the store
classes' method of that name, and any other ``x.m`` to every method named ``m`` of the
classes the module can name (its own and its imports'). That over-approximates what runs
(a test built on it may ask for more than is used); it misses only a method of a class
whose module the caller never imports, which strictly typed code rarely has.

Nested functions and lambdas count as part of the function they stand in. What a function
does directly is given by a finder (``Finder``: a function from one function's AST to the
things it uses, e.g. boto3 S3 operations); ``reached`` collects them along the graph.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FunctionDef = ast.FunctionDef | ast.AsyncFunctionDef
Finder = Callable[[FunctionDef], set[str]]


@dataclass(frozen=True)
class Function:
    """One module-level function or method: ``module`` dotted, ``qualname`` ``f`` or
    ``Class.m``."""

    module: str
    qualname: str

    @property
    def cls(self) -> str | None:
        return self.qualname.split(".")[0] if "." in self.qualname else None

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.module}.{self.qualname}"


@dataclass
class _Module:
    name: str
    path: Path
    tree: ast.Module
    # local name -> dotted module (``import a.b as c``, ``from a import b`` of a module)
    modules: dict[str, str] = field(default_factory=dict)
    # local name -> (module, name) of a function or class imported from the project
    names: dict[str, tuple[str, str]] = field(default_factory=dict)


def _defs(tree: ast.Module) -> Iterator[tuple[str, FunctionDef, str | None]]:
    """(qualname, node, class) of each module-level function and each method."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node, None
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}.{item.name}", item, node.name


def _annotation_names(node: ast.expr | None) -> set[str]:
    """Every bare name an annotation mentions (``ObjectStore | None`` -> ObjectStore)."""
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def terminal(node: ast.AST) -> str | None:
    """The last identifier of a receiver: ``self.store`` -> store, ``store`` -> store."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class CodeIndex:
    """The project's packages parsed, with their functions and the calls between them."""

    def __init__(self, packages: Iterable[str], root: Path = ROOT) -> None:
        self.root = root
        self.packages = tuple(packages)
        self.modules: dict[str, _Module] = {}
        for package in self.packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                self.modules[name] = _Module(name, path, ast.parse(path.read_text(), str(path)))
        self.functions: dict[Function, FunctionDef] = {}
        self.bases: dict[str, set[str]] = {}  # class name -> its bases' names
        for module in self.modules.values():
            self._read_imports(module)
            for qualname, definition, _ in _defs(module.tree):
                self.functions[Function(module.name, qualname)] = definition
            for statement in module.tree.body:
                if isinstance(statement, ast.ClassDef):
                    self.bases.setdefault(statement.name, set()).update(
                        b for base in statement.bases if (b := terminal(base))
                    )
        self._methods: dict[str, set[Function]] = {}
        for function in self.functions:
            if function.cls is not None:
                self._methods.setdefault(function.name, set()).add(function)
        self.store_classes: set[str] = set()
        self.store_names: set[str] = set()
        self._callees: dict[Function, set[Function]] = {}

    # -- reading ------------------------------------------------------------------------

    def _in_project(self, module: str) -> bool:
        return module.split(".")[0] in self.packages

    def _read_imports(self, module: _Module) -> None:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self._in_project(alias.name):
                        # ``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to a.b.
                        local = alias.asname or alias.name.split(".")[0]
                        module.modules[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # The project imports absolutely (no relative import to resolve).
                if not self._in_project(node.module):
                    continue
                for alias in node.names:
                    local = alias.asname or alias.name
                    dotted = f"{node.module}.{alias.name}"
                    if dotted in self.modules or (self.root / dotted.replace(".", "/")).is_dir():
                        module.modules[local] = dotted
                    else:
                        module.names[local] = (node.module, alias.name)

    def where(self, function: Function) -> str:
        """``path:line`` of a function, for messages."""
        node = self.functions[function]
        return f"{self.modules[function.module].path.relative_to(self.root)}:{node.lineno}"

    def in_packages(self, *prefixes: str) -> set[Function]:
        """Every function of the modules named, or below them."""
        return {
            f
            for f in self.functions
            if any(f.module == p or f.module.startswith(p + ".") for p in prefixes)
        }

    # -- object stores ------------------------------------------------------------------

    def mark_store_classes(self, direct: set[str]) -> None:
        """The classes ``direct`` (those holding an S3 client), their project base
        classes and those bases' other subclasses are the object stores; every name
        annotated with one, or assigned one of them built, is an object store."""
        stores = set(direct)
        stores |= {b for c in direct for b in self.bases.get(c, set()) if b in self.bases}
        stores |= {c for c, bases in self.bases.items() if bases & stores}
        self.store_classes = stores
        names: set[str] = set()
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if isinstance(node, ast.arg) and _annotation_names(node.annotation) & stores:
                    names.add(node.arg)
                elif (
                    isinstance(node, ast.AnnAssign) and _annotation_names(node.annotation) & stores
                ):
                    if (target := terminal(node.target)) is not None:
                        names.add(target)
                elif isinstance(node, ast.Assign) and self._builds_store(node.value):
                    names.update(t for target in node.targets if (t := terminal(target)))
        self.store_names = names
        self._callees.clear()  # object store receivers resolve differently now

    def _builds_store(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and terminal(node.func) in self.store_classes

    def _is_store(self, receiver: ast.expr) -> bool:
        return self._builds_store(receiver) or terminal(receiver) in self.store_names

    # -- the call graph -----------------------------------------------------------------

    def callees(self, function: Function) -> set[Function]:
        """What ``function`` may call or hand on (a reference counts as a call)."""
        if function not in self._callees:
            self._callees[function] = self._find_callees(function)
        return self._callees[function]

    def _find_callees(self, function: Function) -> set[Function]:
        module = self.modules[function.module]
        out: set[Function] = set()
        for node in ast.walk(self.functions[function]):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                out |= self._by_name(module, node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                out |= self._by_attribute(module, function, node)
        out.discard(function)
        return out

    def _by_name(self, module: _Module, name: str) -> set[Function]:
        local = Function(module.name, name)
        if local in self.functions:
            return {local}
        if name in module.names:
            source, imported = module.names[name]
            target = Function(source, imported)
            if target in self.functions:
                return {target}
        return set()

    def _by_attribute(
        self, module: _Module, function: Function, node: ast.Attribute
    ) -> set[Function]:
        receiver, attr = node.value, node.attr
        if isinstance(receiver, ast.Name) and receiver.id in module.modules:
            target = Function(module.modules[receiver.id], attr)
            return {target} if target in self.functions else set()
        candidates = self._methods.get(attr, set())
        if self._is_store(receiver):
            return {m for m in candidates if m.cls in self.store_classes}
        if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls") and function.cls:
            own = {function.cls} | self.bases.get(function.cls, set())
            mine = {m for m in candidates if m.cls in own and m.module == function.module}
            if mine:
                return mine
        # Anything else: every method of that name of a class the module can name (its
        # own, or one of a module it imports: strict typing annotates what a function
        # takes, so a class whose objects it handles is imported, if only for the type),
        # but the object stores' (reached only through a receiver known to be one).
        visible = {module.name, *module.modules.values()}
        visible |= {source for source, _ in module.names.values()}
        # And the classes the functions it imports say they return (a factory's product).
        for source, imported in module.names.values():
            visible |= self._returned_modules(Function(source, imported))
        return {m for m in candidates if m.cls not in self.store_classes and m.module in visible}

    def _returned_modules(self, function: Function) -> set[str]:
        """The modules of the names in ``function``'s return annotation."""
        node = self.functions.get(function)
        if node is None or node.returns is None:
            return set()
        home = self.modules[function.module]
        found: set[str] = set()
        for name in ast.walk(node.returns):
            if isinstance(name, ast.Name):
                found.add(home.names[name.id][0] if name.id in home.names else home.name)
        return found

    def reachable(self, roots: Iterable[Function]) -> dict[Function, Function | None]:
        """Every function reachable from ``roots``, each with the one it was first
        reached from (None for a root): the path a message can show."""
        seen: dict[Function, Function | None] = dict.fromkeys(roots)
        todo = list(seen)
        while todo:
            current = todo.pop()
            for callee in self.callees(current):
                if callee not in seen:
                    seen[callee] = current
                    todo.append(callee)
        return seen

    def path(self, seen: dict[Function, Function | None], function: Function) -> str:
        """``root -> ... -> function``, from what ``reachable`` returned."""
        chain: list[Function] = []
        current: Function | None = function
        while current is not None:
            chain.append(current)
            current = seen[current]
        return " -> ".join(str(f) for f in reversed(chain))

    def uses(self, finder: Finder) -> dict[Function, set[str]]:
        """What each function uses directly, by ``finder`` (functions using nothing are
        left out)."""
        found = {f: finder(node) for f, node in self.functions.items()}
        return {f: used for f, used in found.items() if used}
