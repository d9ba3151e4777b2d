#!/usr/bin/env python3
"""The man pages (docs/man/) render without a warning and say what the programs do:
l4lb.yaml(5) names every key and keyword the parser accepts (src/config/keys.hpp),
l4lbd(8) every option of `l4lbd --help`, l4lbctl(8) every command and option of
`l4lbctl --help`. Exit 77 (skipped) when the build has no man pages or binaries."""
import os
import re
import subprocess
import sys

SRC = os.environ.get("L4LB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("L4LB_BUILD_DIR", os.path.join(SRC, "build"))
MAN = os.path.join(BUILD, "man")
PAGES = ["l4lbd.8", "l4lbctl.8", "l4lb.yaml.5"]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def render(page):
    """The page as man(1) shows it at 80 columns; man's and groff's warnings are failures."""
    path = os.path.join(MAN, page)
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="0")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", path],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0 or r.stderr.strip():
        fail(f"man -l {page}: rc={r.returncode} {r.stderr.strip()}")
    g = subprocess.run(["groff", "-man", "-t", "-Tutf8", "-ww", "-z", path],
                       capture_output=True, text=True, env=env)
    if g.returncode != 0 or g.stderr.strip():
        fail(f"groff -ww {page}: rc={g.returncode} {g.stderr.strip()}")
    # Undo overstriking (bold/underline) so words can be matched.
    return re.sub(r".\x08", "", r.stdout)


def words(text):
    """Words, and the parts of dotted ones: CONFIG.md writes nested keys as `track.interfaces`."""
    found = set(re.findall(r"[A-Za-z0-9_.\-]+", text))
    for w in list(found):
        found.update(p for p in w.split(".") if p)
    return found


def schema_words():
    """Every quoted word in the arrays of keys.hpp: keys and keyword values alike."""
    text = open(os.path.join(SRC, "src/config/keys.hpp")).read()
    found = set()
    for body in re.findall(r"std::array<std::string_view, \d+> k\w+\{(.*?)\};", text, re.S):
        found.update(re.findall(r'"([^"]+)"', body))
    return found


def help_tokens(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
    return r.stdout


def main():
    if not all(os.path.exists(os.path.join(MAN, p)) for p in PAGES):
        print(f"skipped: no man pages in {MAN} (pandoc missing, or a unit_tests-only build)")
        return 77
    l4lbd = os.path.join(BUILD, "src/daemon/l4lbd")
    l4lbctl = os.path.join(BUILD, "src/ctl/l4lbctl")
    if not (os.path.exists(l4lbd) and os.path.exists(l4lbctl)):
        print("skipped: l4lbd or l4lbctl not built")
        return 77

    pages = {p: render(p) for p in PAGES}

    keys = schema_words()
    if len(keys) < 60:
        fail(f"only {len(keys)} words read from keys.hpp: the pattern no longer matches it")
    config_words = words(pages["l4lb.yaml.5"])
    missing = sorted(k for k in keys if k not in config_words)
    if missing:
        fail(f"l4lb.yaml(5) does not mention: {', '.join(missing)}")

    for binary, page, subcommands in ((l4lbd, "l4lbd.8", []),
                                      (l4lbctl, "l4lbctl.8",
                                       ["status", "drain", "undrain", "check-config"])):
        page_words = words(pages[page])
        helps = [help_tokens(binary)] + [help_tokens(binary, s) for s in subcommands]
        for h in helps:
            for opt in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", h):
                if opt not in page_words:
                    fail(f"{page} does not document option {opt} (from --help)")
        if binary == l4lbctl:
            m = re.search(r"Subcommands:\n(.*)", helps[0], re.S)
            commands = re.findall(r"^\s+(\S+)", m.group(1), re.M) if m else []
            if len(commands) < 5:
                fail(f"l4lbctl --help lists {commands}: cannot read its commands")
            for c in commands:
                if c not in page_words:
                    fail(f"l4lbctl(8) does not document command {c}")
            if "__complete" in commands:
                fail("l4lbctl --help shows the hidden __complete command")

    for page, text in pages.items():
        for section in ("NAME", "SYNOPSIS", "SEE ALSO"):
            if not re.search(rf"^{section}$", text, re.M):
                fail(f"{page} has no {section} section")
    print(f"checked {len(keys)} schema words and {len(PAGES)} pages")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
