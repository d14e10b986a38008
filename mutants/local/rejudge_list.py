#!/usr/bin/env python3
"""Map b51fc44 survivor names to today's line numbers and print one --re regex per mutant.
usage: rejudge_list.py NEWREV < names   (run in a clone that has both revs)"""
import re, subprocess, sys
new = sys.argv[1]
def lines(rev, path):
    return subprocess.run(['git', 'show', f'{rev}:{path}'], capture_output=True, text=True).stdout.splitlines()
cache = {}
for name in sys.stdin.read().splitlines():
    if not name.strip():
        continue
    m = re.match(r'(src/[^:]+):(\d+):(\d+): (.*)', name)
    path, ln, col, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    old = cache.setdefault(('b51fc44', path), lines('b51fc44', path))
    cur = cache.setdefault((new, path), lines(new, path))
    text = old[ln - 1]
    cands = [i + 1 for i, l in enumerate(cur) if l == text]
    if not cands:
        print(f'# LOST {name}', file=sys.stderr); continue
    nl = min(cands, key=lambda i: abs(i - ln))
    print('^' + re.escape(f'{path}:{nl}:{col}: {rest}') + '$')
