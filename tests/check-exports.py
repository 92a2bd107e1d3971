#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The dynamic symbols of libsmemkit.so are exactly the public API.

usage: check-exports.py LIBSMEMKIT.so INCLUDE_DIR

Lists the functions declared in INCLUDE_DIR/smemkit/*.h and the symbols the
library defines in its dynamic symbol table (nm -D --defined-only), and fails
on any symbol that is not a declared function (an internal that leaked) and on
any declared function that is not exported (a missing entry in
lib/libsmemkit.map).
"""
import subprocess
import sys

from public_api import declared


def exported(lib):
    """Every symbol the library defines in its dynamic symbol table."""
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[1] == 'A':
            continue  # 'A': the version node itself (SMEMKIT_0.1)
        names.add(fields[2].split('@')[0])
    return names


def main():
    lib, include_dir = sys.argv[1], sys.argv[2]
    want, have = declared(include_dir), exported(lib)
    if not want:
        print('check-exports: no function found in the headers', file=sys.stderr)
        return 1
    extra, missing = sorted(have - want), sorted(want - have)
    for name in extra:
        print(f'check-exports: {lib} exports {name}, which no public header declares')
    for name in missing:
        print(f'check-exports: {name} is declared but {lib} does not export it '
              '(add it to lib/libsmemkit.map)')
    if extra or missing:
        return 1
    print(f'check-exports: {len(have)} symbols, exactly the public functions')
    return 0


if __name__ == '__main__':
    sys.exit(main())
