#!/usr/bin/env python3
"""The house rule the compiler does not check: a target imports only the modules Package.swift
declares as its dependencies (system modules aside). Prints each undeclared import; exit 1 if any."""
import json, os, re, subprocess, sys

SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest",
          "PackageDescription", "_Concurrency", "os"}
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, capture_output=True, text=True,
                                    check=True).stdout)
problems = []
for target in package["targets"]:
    if target["type"] == "system":
        continue
    declared = set()
    for dep in target.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in dep:
                declared.add(dep[kind][0])
    folder = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", target["name"])
    for base, _, files in os.walk(os.path.join(root, folder)):
        for name in files:
            if not name.endswith(".swift"):
                continue
            path = os.path.join(base, name)
            for number, line in enumerate(open(path, encoding="utf-8"), 1):
                m = re.match(r"\s*(?:@\w+\s+)*(?:public |internal |package |private |fileprivate )?import (?:\w+ )?(\w+)", line)
                if m and m.group(1) not in SYSTEM and m.group(1) not in declared and m.group(1) != target["name"]:
                    problems.append(f"{os.path.relpath(path, root)}:{number}: {target['name']} imports {m.group(1)}, "
                                    f"which Package.swift does not declare as its dependency")
for problem in problems:
    print(problem)
print(f"imports: {len(problems)} undeclared")
sys.exit(1 if problems else 0)
