#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What "meson install" puts in place documents every public function.

usage: check-install.py MESON BUILD_ROOT INCLUDE_DIR

Installs the build into a temporary DESTDIR and checks that every function
declared in INCLUDE_DIR/smemkit/*.h has a section 3 page of its own name,
either the page that documents it or a ".so" alias to that page, that the
page's NAME section lists the function, and that no alias or NAME entry names
a function the headers no longer declare.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

from public_api import declared


def name_section(path):
    """The function names that a page's NAME section lists."""
    with open(path) as f:
        src = f.read()
    m = re.search(r'^\.SH NAME\n(.*?)^\\-', src, re.S | re.M)
    return set(re.findall(r'\bsmem_[a-z0-9_]+', m.group(1))) if m else set()


def check_man(destdir, functions):
    """Return a list of problems with the installed section 3 pages."""
    dirs = glob.glob(os.path.join(destdir, '**', 'man', 'man3'), recursive=True)
    if len(dirs) != 1:
        return [f'expected one man3 directory under {destdir}, found {dirs}']
    man3 = dirs[0]
    problems = []
    for f in sorted(functions):
        path = os.path.join(man3, f + '.3')
        if not os.path.isfile(path):
            problems.append(f'{f}: no page or alias {path}')
            continue
        with open(path) as fh:
            first = fh.readline().split()
        page = path
        if first[:1] == ['.so']:
            page = os.path.join(os.path.dirname(man3), first[1])
            if not os.path.isfile(page):
                problems.append(f'{f}: the alias points at {first[1]}, which is not installed')
                continue
        if f not in name_section(page):
            problems.append(f'{f}: {os.path.basename(page)} does not name it in NAME')
    for path in sorted(glob.glob(os.path.join(man3, '*.3'))):
        with open(path) as fh:
            is_alias = fh.readline().startswith('.so ')
        stale = ({os.path.basename(path)[:-2]} if is_alias else name_section(path)) - functions
        for f in sorted(stale):
            problems.append(f'{os.path.basename(path)} names {f}, which no public header declares')
    return problems


def main():
    meson, build, include_dir = sys.argv[1:4]
    functions = declared(include_dir)
    with tempfile.TemporaryDirectory(prefix='smemkit-install-') as destdir:
        subprocess.run([meson, 'install', '-C', build, '--no-rebuild', '--quiet',
                        '--destdir', destdir], check=True, stdout=subprocess.DEVNULL)
        problems = check_man(destdir, functions)
    for p in problems:
        print(f'check-install: {p}')
    if problems:
        return 1
    print(f'check-install: a page or an alias for each of the {len(functions)} functions')
    return 0


if __name__ == '__main__':
    sys.exit(main())
