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
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                out[module_of(path)] = path
    return out


def without_tests(text):
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
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


def references(text):
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        yield from use_paths(m.group(1))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        yield tuple(m.group(1).split("::"))


def resolve(path, here, modules, is_dir_module):
    base = list(here) if is_dir_module else list(here[:-1])
    if path[0] == "crate":
        base, path = [], path[1:]
    elif path[0] in ("super", "self"):
        if path[0] == "super":
            base = list(here[:-1])
        else:
            base = list(here)
        path = path[1:]
        while path and path[0] == "super":
            base, path = base[:-1], path[1:]
    else:
        return None
    full = tuple(base) + tuple(path)
    for n in range(len(full), 0, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def graph():
    modules = files()
    edges = {m: set() for m in modules}
    for module, path in modules.items():
        is_dir = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
        text = without_tests(open(path, encoding="utf-8").read())
        for ref in references(text):
            target = resolve(ref, module, modules, is_dir)
            if target is not None and target != module and target != ():
                # A parent's `mod` declarations are not uses; a child naming
                # its parent's items is.
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
