#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks the man pages against the binary they describe.

Usage: man_check.py IRQD IRQD_8 IRQD_TOML_5

- Both pages render with man(1) and groff(1) without a single warning.
- irqd(8): every subcommand `irqd --help` lists (and theirs, recursively)
  has a section titled "irqd SUBCOMMAND...", and every long option its
  --help prints is a term of a definition in that section (--help itself
  and the top level's options: in OPTIONS).
- irqd.toml(5): every table and key of `irqd config example` (also those
  it leaves out as `#key = value`) is a term of a definition in that
  table's section ("Top level" for the keys before the first table).

The flags and keys are read from the built binary when the test runs, so a
new flag fails this test until the page describes it. Exit 77 (skip) when
man or groff is not installed.
"""

import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, env=env, check=False)


def render(page, width, warnings):
    """The page as man(1) prints it to a pipe (no overstrikes), and its warnings."""
    env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    args = ["man"] + (["--warnings=w"] if warnings else []) + ["-l", page]
    r = run(args, env)
    if r.returncode != 0:
        raise SystemExit(f"man -l {page} failed (exit {r.returncode}): {r.stderr.strip()}")
    return r.stdout, r.stderr


def sections(text):
    """{title: [lines]} of every section (SH, column 0) and subsection (SS,
    3 spaces in); a subsection's lines also count for its section."""
    out = {}
    sh = ss = None
    for line in text.splitlines():
        if re.match(r"^\S", line):
            sh, ss = line.strip(), None
            out.setdefault(sh, [])
            continue
        if re.match(r"^ {3}\S", line):
            ss = line.strip()
            out.setdefault(ss, [])
            continue
        for key in (sh, ss):
            if key is not None:
                out[key].append(line)
    return out


def terms(lines):
    """The definition terms of a section: lines indented exactly 7 spaces."""
    return [line for line in lines if re.match(r"^ {7}\S", line)]


def word_in(word, lines, suffix=""):
    pattern = re.compile(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])" + suffix)
    return any(pattern.search(line) for line in lines)


def help_blocks(text):
    """{block title: [lines]} of a CLI11 --help text ("Options:", "Subcommands:")."""
    blocks, current = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            current = line[:-1]
            blocks[current] = []
        elif current is not None:
            if not line.strip():
                current = None
            else:
                blocks[current].append(line)
    return blocks


def long_flags(help_text):
    flags = []
    for line in help_blocks(help_text).get("Options", []):
        m = re.match(r"^  ((?:-\w,)?--[\w-]+(?:,--[\w-]+)*)", line)
        if m:
            flags += re.findall(r"--[\w-]+", m.group(1))
    return flags


def subcommands(help_text):
    return [m.group(1) for line in help_blocks(help_text).get("Subcommands", [])
            if (m := re.match(r"^  (\S+)", line))]


def irqd_help(irqd, path):
    r = run([irqd] + path + ["--help"])
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(['irqd'] + path + ['--help'])} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def check_irqd_8(irqd, text, errors):
    secs = sections(text)
    top = irqd_help(irqd, [])
    for flag in long_flags(top):
        if not word_in(flag, terms(secs.get("OPTIONS", []))):
            errors.append(f"irqd(8): top-level option {flag} is not described in OPTIONS")

    todo = [[s] for s in subcommands(top)]
    if not todo:
        errors.append("irqd --help lists no subcommands")
    checked = 0
    while todo:
        path = todo.pop(0)
        text_help = irqd_help(irqd, path)
        todo += [path + [s] for s in subcommands(text_help)]
        name = "irqd " + " ".join(path)
        own = [t for t in secs if t == name or t.startswith(name + " ")]
        if not own:
            errors.append(f"irqd(8): no section '{name}' (the subcommand `{name}` exists)")
            continue
        lines = [line for t in own for line in secs[t]]
        for flag in long_flags(text_help):
            if flag == "--help":
                continue
            if not word_in(flag, terms(lines)):
                errors.append(f"irqd(8): `{name} --help` prints {flag}, which section '{name}' does not describe")
        checked += 1
    return checked


def check_toml_5(irqd, text, errors):
    secs = sections(text)
    r = run([irqd, "config", "example"])
    if r.returncode != 0:
        raise SystemExit(f"irqd config example exited {r.returncode}: {r.stderr.strip()}")
    table = "Top level"
    seen = set()
    for line in r.stdout.splitlines():
        line = line.strip()
        # `#key = value` and `#[table]`: keys the example leaves out (so that
        # it runs anywhere) are keys all the same; "# text" is a comment.
        if re.match(r"^#[\[A-Za-z_]", line):
            line = line[1:]
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\[\[?[\w.]+\]\]?)", line)
        if m:
            table = m.group(1)
            if table not in secs:
                errors.append(f"irqd.toml(5): no section '{table}' (`irqd config example` has the table)")
            continue
        m = re.match(r"^([A-Za-z_][\w-]*)\s*=", line)
        if not m or (table, m.group(1)) in seen:
            continue
        key = m.group(1)
        seen.add((table, key))
        if not word_in(key, terms(secs.get(table, [])), r"\s*="):
            errors.append(f"irqd.toml(5): key '{key}' of {table} is not described in section '{table}'")
    return len(seen)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    irqd, man8, man5 = sys.argv[1:]
    for tool in ("man", "groff"):
        if shutil.which(tool) is None:
            print(f"{tool} not installed (apt-get install man-db groff-base)", file=sys.stderr)
            return SKIP

    errors = []
    texts = {}
    for page in (man8, man5):
        r = run(["groff", "-ww", "-z", "-man", page])
        if r.returncode != 0 or r.stderr:
            errors.append(f"groff -ww -z -man {page}: {r.stderr.strip() or 'exit ' + str(r.returncode)}")
        _, warn = render(page, 80, True)
        if warn:
            errors.append(f"man --warnings -l {page} (80 columns): {warn.strip()}")
        # Wide: no line is broken or hyphenated, so every flag is whole.
        texts[page], _ = render(page, 1000, False)

    commands = check_irqd_8(irqd, texts[man8], errors)
    keys = check_toml_5(irqd, texts[man5], errors)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"man pages: render clean; {commands} subcommands' flags in irqd(8), {keys} keys in irqd.toml(5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
