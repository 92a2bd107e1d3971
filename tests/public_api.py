# SPDX-License-Identifier: MIT
"""The public API as the headers declare it; shared by the tests of what is installed."""
import glob
import os
import re


def declared(include_dir):
    """Every function declared in INCLUDE_DIR/smemkit/*.h."""
    names = set()
    for path in sorted(glob.glob(os.path.join(include_dir, 'smemkit', '*.h'))):
        with open(path) as f:
            src = f.read()
        src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
        src = re.sub(r'//[^\n]*', ' ', src)
        # Preprocessor lines hold macros, never declarations.
        src = '\n'.join(l for l in src.split('\n') if not l.lstrip().startswith('#'))
        names.update(re.findall(r'\b(smem_[a-z0-9_]+)\s*\(', src))
    return names
