#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What "meson install" puts in place is usable and documents every function.

usage: check-install.py MESON BUILD_ROOT INCLUDE_DIR SANITIZE CC...

Installs the build into a temporary DESTDIR and checks that every function
declared in INCLUDE_DIR/smemkit/*.h has a section 3 page of its own name,
either the page that documents it or a ".so" alias to that page, that the
page's NAME section lists the function, and that no alias or NAME entry names
a function the headers no longer declare. Then it builds a program with the
compiler CC and the flags of the installed smemkit.pc, as the README says,
and runs it against the installed libsmemkit.so; not in a sanitizer build
(SANITIZE is not "none"), whose library needs the sanitizer runtime first.
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


# Only the installed headers and library: an image and its lock bank in memfds.
PROGRAM = r"""
#include <stdio.h>
#include <smemkit/hwlock.h>
#include <smemkit/region.h>
#include <smemkit/smem.h>

int main(void)
{
	struct smem_region *img, *bank;
	struct smem_hwlock_opts ho;
	struct smem_open_opts o;
	struct smem_hwlock *h;
	struct smem_stat st;
	struct smem *s;
	void *p;
	size_t n;

	smem_hwlock_opts_init(&ho);
	ho.flags = SMEM_HWLOCK_CREATE;
	smem_open_opts_init(&o);
	if (smem_region_memfd("img", SMEM_DEFAULT_SIZE, &img) ||
	    smem_format(smem_region_base(img), SMEM_DEFAULT_SIZE, NULL) ||
	    smem_region_memfd("bank", SMEM_HWLOCK_BANK_SIZE(SMEM_HWLOCK_DEFAULT_STRIDE), &bank))
		return 1;
	ho.region = bank;
	if (smem_hwlock_open(NULL, &ho, &h))
		return 2;
	o.region = img;
	o.hwlock = h;
	if (smem_open(NULL, SMEM_HOST_APPS, &o, &s) || smem_item_alloc(s, 1, 500, 64, 0) ||
	    smem_item_get(s, 1, 500, &p, &n) || n != 64 || smem_stat(s, &st) || st.version != 12)
		return 3;
	smem_close(s);
	smem_hwlock_close(h);
	smem_region_close(bank);
	smem_region_close(img);
	puts("ok");
	return 0;
}
"""


def check_build(destdir, cc):
    """Build and run PROGRAM against the install; return a list of problems."""
    pcs = glob.glob(os.path.join(destdir, '**', 'pkgconfig', 'smemkit.pc'), recursive=True)
    if len(pcs) != 1:
        return [f'expected one smemkit.pc under {destdir}, found {pcs}']
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=destdir)
    flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'smemkit'], env=env,
                           check=True, capture_output=True, text=True).stdout.split()
    libdirs = [f[2:] for f in flags if f.startswith('-L')]
    src, exe = os.path.join(destdir, 'app.c'), os.path.join(destdir, 'app')
    with open(src, 'w') as f:
        f.write(PROGRAM)
    r = subprocess.run(cc + ['-o', exe, src] + flags, capture_output=True, text=True)
    if r.returncode:
        return [f'cannot build against the install with {flags}:\n{r.stderr}']
    r = subprocess.run([exe], env=dict(os.environ, LD_LIBRARY_PATH=':'.join(libdirs)),
                       capture_output=True, text=True)
    if r.returncode or r.stdout != 'ok\n':
        return [f'a program built against the install failed ({r.returncode}): {r.stderr}']
    return []


def main():
    meson, build, include_dir, sanitize = sys.argv[1:5]
    cc = sys.argv[5:]
    functions = declared(include_dir)
    with tempfile.TemporaryDirectory(prefix='smemkit-install-') as destdir:
        subprocess.run([meson, 'install', '-C', build, '--no-rebuild', '--quiet',
                        '--destdir', destdir], check=True, stdout=subprocess.DEVNULL)
        problems = check_man(destdir, functions)
        if sanitize == 'none':
            problems += check_build(destdir, cc)
    for p in problems:
        print(f'check-install: {p}')
    if problems:
        return 1
    print(f'check-install: a page or an alias for each of the {len(functions)} functions'
          + ('; a program builds and runs against the install' if sanitize == 'none' else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
