#!/usr/bin/env python3
"""The house rules (ARCHITECTURE.md) that the compiler does not check, checked on every CI run:

- imports: a target imports only modules its Package.swift entry declares (system modules aside);
- unsafe: in the library targets, pointer arithmetic, manual memory and raw loads and stores
  (baseAddress + n, allocate, bindMemory, load(fromByteOffset:), storeBytes, copyMemory, ...) live in
  files named *+Unsafe.swift (handing a buffer to a function with withUnsafeBytes does not count);
- unchecked: each `@unchecked Sendable` says why in the comment just above its type;
- backends: EMALogStore (what every backend shares) declares no database library, no backend
  declares another (they are siblings), and the CLI declares none (it sees stores through Core);
- sql: SQL is spoken only in the backends, EMALogSQLite and EMALogPostgres (test support is exempt);
- environment: shipped targets read only the environment variables listed here;
- size: no Swift file of ours over 600 lines.
Prints each problem as path:line: rule: what; exit 1 if any."""
import json, os, re, subprocess, sys

SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest",
          "PackageDescription", "_Concurrency", "os"}
LIBRARIES = {"EMAKernel", "EMALogFormats", "EMALogStore", "EMALogSQLite", "EMALogPostgres", "EMALogCore", "EMAChart"}
SHIPPED = LIBRARIES | {"emalog"}
BACKENDS = {"EMALogSQLite", "EMALogPostgres"}
DATABASE_LIBRARIES = {"GRDB", "GRDBSQLite", "PostgresNIO"}
SQL_ALLOWED = BACKENDS | {"EMALogTestSupport"}
# README documents each: the server timeout, libpq's password settings, ~ for ~/.pgpass.
ENVIRONMENT = {"EMALOG_SERVER_TIMEOUT", "PGPASSWORD", "PGPASSFILE", "HOME"}
UNSAFE = re.compile(r"\.baseAddress!?\s*[-+]|\.advanced\(by:|\.allocate\(|\.deallocate\(\)|bindMemory|assumingMemoryBound"
                    r"|\.load(Unaligned)?\((fromByteOffset|as:)|\.storeBytes\(|copyMemory\(|\.initializeMemory\(")
SQL_TEXT = re.compile(r"^\s*(SELECT\s|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TEMP )?(TABLE|INDEX)|DROP TABLE|TRUNCATE |WITH \w+ AS)")
SQL = re.compile(r'"[^"]*\b(SELECT [\w*(]|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)|DROP TABLE|TRUNCATE )')

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, capture_output=True, text=True,
                                    check=True).stdout)
problems = []
for target in package["targets"]:
    if target["type"] == "system":
        continue
    name = target["name"]
    declared = {dep[kind][0] for dep in target.get("dependencies", []) for kind in ("byName", "target", "product") if kind in dep}
    if name == "EMALogStore" and declared & (DATABASE_LIBRARIES | BACKENDS):
        problems.append(f"Package.swift:1: backends: EMALogStore declares {sorted(declared & (DATABASE_LIBRARIES | BACKENDS))}")
    if name == "emalog" and declared & (BACKENDS | DATABASE_LIBRARIES):
        problems.append(f"Package.swift:1: backends: the CLI declares {sorted(declared & (BACKENDS | DATABASE_LIBRARIES))}")
    if name in BACKENDS and declared & (BACKENDS - {name}):
        problems.append(f"Package.swift:1: backends: {name} declares the sibling backend {sorted(declared & BACKENDS)}")
    folder = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
    for base, _, files in os.walk(os.path.join(root, folder)):
        for file in sorted(files):
            if not file.endswith(".swift"):
                continue
            path = os.path.join(base, file)
            where = os.path.relpath(path, root)
            lines = open(path, encoding="utf-8").read().split("\n")
            if len(lines) > 601 and not file.endswith(".generated.swift"):
                problems.append(f"{where}:1: size: {len(lines)} lines (over 600: restructure)")
            in_literal = False  # inside a multi-line string literal (where SQL is usually written)
            for number, line in enumerate(lines, 1):
                opens_or_closes = line.count('"""') % 2 == 1
                literal_line = in_literal or opens_or_closes
                if opens_or_closes:
                    in_literal = not in_literal
                m = re.match(r"\s*(?:@\w+\s+)*(?:public |internal |package |private |fileprivate )?import (?:\w+ )?(\w+)\s*$", line)
                if m and m.group(1) not in SYSTEM | declared and m.group(1) != name:
                    problems.append(f"{where}:{number}: imports: {name} imports {m.group(1)}, which Package.swift does not declare")
                code = line.split("//")[0]
                if name in LIBRARIES and not file.endswith("+Unsafe.swift") and UNSAFE.search(code):
                    problems.append(f"{where}:{number}: unsafe: pointer code outside a +Unsafe.swift file")
                if "@unchecked Sendable" in code and target["type"] != "test":
                    above = " ".join(l.strip() for l in lines[max(0, number - 8):number - 1] if l.strip().startswith("///"))
                    if "@unchecked Sendable" not in above and "`@unchecked Sendable`" not in above:
                        problems.append(f"{where}:{number}: unchecked: `@unchecked Sendable` without a comment above saying why")
                if target["type"] != "test" and name not in SQL_ALLOWED and (SQL.search(line) or (literal_line and SQL_TEXT.search(line))):
                    problems.append(f"{where}:{number}: sql: SQL outside the backends (EMALogSQLite, EMALogPostgres)")
                if name in SHIPPED:
                    for found in re.findall(r'environment\["(\w+)"\]|getenv\("(\w+)"\)', line):
                        variable = "".join(found)
                        if variable not in ENVIRONMENT:
                            problems.append(f"{where}:{number}: environment: {name} reads {variable}, not a documented setting")
for problem in problems:
    print(problem)
print(f"house rules: {len(problems)} problems")
sys.exit(1 if problems else 0)
