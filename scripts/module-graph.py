#!/usr/bin/env python3
"""The file-level import graph of src/: which file uses which, from every
`crate::`, `super::` and `self::` path (in `use` trees and in code), test
modules left out. Exits 1 and prints each cycle if there is one.

    scripts/module-graph.py [--edges]
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def files():
    out = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs") and name != "tests.rs":
                path = os.path.join(root, name)
                out[module_of(path)] = path
    return out


def without_tests(text):
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    return code_only(text[: cut.start()] if cut else text)


def code_only(text):
    """The text with comments, strings and character literals blanked."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif re.match(r'b?r#*"', text[i : i + 8]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            close = '"' + m.group(1)
            end = text.find(close, i + m.end())
            i = n if end < 0 else end + len(close)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^'\\])'", text[i:])
            if m:
                i += m.end()
                out.append("' '")
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_paths(tree, prefix=()):
    """Expands a use tree (`a::{b, c::d}`) into paths."""
    tree = tree.strip()
    depth, parts, start = 0, [], 0
    if tree.startswith("{") and tree.endswith("}"):
        inner = tree[1:-1]
        for i, c in enumerate(inner):
            depth += c == "{"
            depth -= c == "}"
            if c == "," and depth == 0:
                parts.append(inner[start:i])
                start = i + 1
        parts.append(inner[start:])
        return [p for part in parts if part.strip() for p in use_paths(part, prefix)]
    head, sep, rest = tree.partition("::")
    head = head.split(" as ")[0].strip()
    if not sep:
        return [prefix + (head,)]
    return use_paths(rest, prefix + (head,))


def inline_modules(text):
    """The spans of inline `mod name { ... }` blocks."""
    spans = []
    for m in re.finditer(r"\bmod\s+[A-Za-z_][A-Za-z0-9_]*\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        spans.append((m.start(), i))
    return spans


def references(text):
    """Each path the text names, and how many inline modules it is inside."""
    spans = inline_modules(text)
    depth = lambda at: sum(1 for start, end in spans if start <= at < end)
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        for path in use_paths(m.group(1)):
            yield path, depth(m.start())
    for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:[A-Za-z_][A-Za-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        yield tuple(m.group(1).split("::")), depth(m.start())


def reexports_of(text):
    """The paths a module re-exports: `pub use`, `pub(crate) use`, `pub(super) use`."""
    for m in re.finditer(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]+);", text):
        yield from use_paths(m.group(1))


def aliases_of(text):
    """`#[path = "unix.rs"] mod imp;`: the name a file is declared under."""
    for m in re.finditer(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;', text):
        yield m.group(2), m.group(1)


def resolve(path, here, is_dir, modules, aliases, depth=0):
    """The module `path` names from `here` (`depth` inline modules deep),
    and the rest of the path."""
    if path[0] == "crate":
        base, path = (), path[1:]
    elif path[0] == "super":
        supers = 0
        while path and path[0] == "super":
            supers, path = supers + 1, path[1:]
        # The first `depth` supers leave inline modules, staying in this file.
        up = max(supers - depth, 0)
        base = here[: len(here) - up] if up else here
    elif path[0] == "self":
        base, path = here, path[1:]
    elif depth == 0 and is_dir and (here + (path[0],) in modules or here + (path[0],) in aliases):
        base = here
    else:
        return []
    full = tuple(base) + tuple(path)
    head = full[: len(base) + 1]
    candidates = [t + full[len(base) + 1 :] for t in aliases[head]] if head in aliases else [full]
    found = []
    for full in candidates:
        for n in range(len(full), 0, -1):
            if full[:n] in modules:
                found.append((full[:n], full[n:]))
                break
    return found


def graph():
    modules = files()
    texts = {m: without_tests(open(p, encoding="utf-8").read()) for m, p in modules.items()}
    is_dir = {m: os.path.basename(p) in ("mod.rs", "lib.rs", "main.rs") for m, p in modules.items()}
    aliases = {}
    for m, path in modules.items():
        for name, file in aliases_of(open(path, encoding="utf-8").read()):
            target = module_of(os.path.join(os.path.dirname(modules[m]), file))
            aliases.setdefault(m + (name,), []).append(target)
    reexports = {m: {} for m in modules}
    for m, text in texts.items():
        for path in reexports_of(text):
            for target, rest in resolve(path, m, is_dir[m], modules, aliases) or []:
                if rest:
                    reexports[m][path[-1]] = target

    def through_reexports(target, rest):
        for _ in range(5):
            if rest and rest[0] in reexports[target] and reexports[target][rest[0]] != target:
                target = reexports[target][rest[0]]
            else:
                break
        return target

    edges = {m: set() for m in modules}
    for module, text in texts.items():
        for ref, depth in references(text):
            for found in resolve(ref, module, is_dir[module], modules, aliases, depth) or []:
                target = through_reexports(*found)
                if target != module and target != ():
                    edges[module].add(target)
    return modules, edges


def cycles(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def main():
    _, edges = graph()
    # lib.rs wires the modules together and calls into them: it is the root.
    edges.pop((), None)
    for targets in edges.values():
        targets.discard(())
    if "--edges" in sys.argv:
        for m in sorted(edges):
            print(f"{name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}")
    found = cycles(edges)
    for component in found:
        members = set(component)
        inner = [f"{name(a)} -> {name(b)}" for a in sorted(members) for b in sorted(edges[a]) if b in members]
        print("cycle among " + ", ".join(sorted(name(m) for m in component)) + ":\n  " + "\n  ".join(inner))
    if found:
        sys.exit(1)
    print(f"{len(edges)} modules, {sum(len(t) for t in edges.values())} edges, no cycle")


main()
