#!/usr/bin/env python3
"""Checks loom's module layering against cmake/layers.txt.

Every file under src/<module>/ and include/loom/<module>/ may include
"loom/<other>/..." only when <other> is <module> itself or reachable from it
in the table; every link edge between loom_<module> targets (written by CMake
into the build tree) must be allowed the same way. Prints each violation with
its file and line and exits 1 if there is any.

  check_layering.py SOURCE_DIR [LINKS_FILE]
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]loom/([a-z_]+)/')


def read_table(path):
    allowed = {}
    for number, line in enumerate(open(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            sys.exit(f"{path}:{number}: expected 'module: dependencies'")
        name, deps = line.split(":", 1)
        allowed[name.strip()] = deps.split()
    for name, deps in allowed.items():
        for dep in deps:
            if dep not in allowed:
                sys.exit(f"{path}: module '{name}' depends on unknown module '{dep}'")
    return allowed


def closure(allowed):
    reach = {}
    def visit(name, seen):
        for dep in allowed[name]:
            if dep not in seen:
                seen.add(dep)
                visit(dep, seen)
        return seen
    for name in allowed:
        reach[name] = visit(name, {name})
    return reach


def module_of(root, path):
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "src" and len(rel) > 2:
        return rel[1]
    if rel[:2] == ["include", "loom"] and len(rel) > 3:
        return rel[2]
    return None


def main():
    root = sys.argv[1]
    links = sys.argv[2] if len(sys.argv) > 2 else None
    allowed = read_table(os.path.join(root, "cmake", "layers.txt"))
    reach = closure(allowed)
    problems = []
    for top in ("src", os.path.join("include", "loom")):
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".h", ".hpp", ".cpp", ".cc")):
                    continue
                path = os.path.join(directory, name)
                module = module_of(root, path)
                if module is None:
                    continue
                if module not in allowed:
                    problems.append(f"{path}: module '{module}' is not in cmake/layers.txt")
                    continue
                for number, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) not in reach[module]:
                        problems.append(f"{path}:{number}: module '{module}' may not include loom/{m.group(1)}/ "
                                        f"(allowed: {' '.join(sorted(reach[module]))})")
    if links:
        for number, line in enumerate(open(links), 1):
            parts = line.split()
            if len(parts) != 2:
                continue
            module, dep = parts
            if module not in allowed:
                problems.append(f"{links}:{number}: target loom_{module} is not a module in cmake/layers.txt")
            elif dep not in reach[module]:
                problems.append(f"link edge loom_{module} -> loom_{dep} is not allowed by cmake/layers.txt")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"layering: {len(allowed)} modules, no violations")


if __name__ == "__main__":
    main()
