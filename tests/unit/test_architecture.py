"""The layout as invariants: commands over a library that never imports them, no import cycle (imports inside
functions counted), small modules, and a CLI that starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ptt

ROOT = Path(ptt.__file__).parent
MAX_LINES = 400
# function-level imports of ptt modules are allowed only where they defer a heavy import at CLI start-up
DEFERRED_OK = {"ptt.cli", "ptt.config.groups"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ptt_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported ptt module, inside a function?) for every import statement of the file."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("ptt"):
                found.append((child.module, in_function))
                found.extend((f"{child.module}.{a.name}", in_function) for a in child.names)
            elif isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names if a.name.startswith("ptt"))
            visit(child, inner)

    visit(tree, False)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {m for m, _ in ptt_imports(path) if m in modules and m != name}
    return edges


def test_no_import_cycle_counting_function_level_imports():
    edges, state, cycles = graph(), {}, []

    def dfs(node, stack):
        state[node] = "open"
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            dfs(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_library_never_imports_a_command_or_the_cli():
    for name, deps in graph().items():
        if name.startswith(("ptt.commands", "ptt.cli")):
            continue
        bad = sorted(d for d in deps if d.startswith(("ptt.commands", "ptt.cli")))
        assert not bad, f"{name} imports {bad}: the library must not depend on the command layer"


def test_function_level_imports_only_defer_heavy_modules():
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        inner = sorted({m for m, in_fn in ptt_imports(path) if in_fn})
        if name not in DEFERRED_OK:
            assert not inner, f"{name} imports {inner} inside functions; import at the top of the file"


def test_no_module_over_the_size_limit():
    benchmarks = ROOT.parent / "benchmarks"
    files = [*ROOT.rglob("*.py"), *benchmarks.rglob("*.py")]
    assert any(p.parent == benchmarks for p in files)  # the benchmarks are in the count
    long = {str(p.relative_to(ROOT.parent)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_benchmarks_drive_ptt_through_its_api_without_patching_it():
    """No benchmark replaces a ptt attribute (module function, engine method): timing goes through hooks."""
    for path in (ROOT.parent / "benchmarks").rglob("*.py"):
        text = path.read_text()
        for bad in ("object.__setattr__", "object.__delattr__", "ptt.scoring.cut_at_eos =", "monkeypatch"):
            assert bad not in text, f"{path.name}: {bad}"


def test_every_package_says_what_lives_in_it():
    for init in ROOT.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init} has no docstring describing the package"


def test_cli_starts_without_torch():
    out = subprocess.run([sys.executable, "-c", "import sys, ptt.cli; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_test_modules_share_helpers_through_one_module():
    tests = Path(__file__).resolve().parents[1]
    for path in tests.rglob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests"):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("tests"))
        assert imported <= {"tests.helpers"}, f"{path.relative_to(tests)} imports {sorted(imported)}"


def test_no_module_shadows_the_standard_library():
    shadowing = sorted(module_name(p) for p in ROOT.rglob("*.py") if p.stem in sys.stdlib_module_names)
    assert not shadowing, f"modules named like a standard-library module: {shadowing}"
