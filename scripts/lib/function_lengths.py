# Function bodies longer than N lines in C++ files (a heuristic: braces opened in namespace or
# class scope by a line that ends a declarator). Exit 1 when there is one.
import re, sys
limit = int(sys.argv[1]); files = sys.argv[2:]
bad = 0
for f in files:
    lines = open(f).read().split('\n')
    stack = []  # kinds: ns, cls, fn, blk
    for i, raw in enumerate(lines):
        line = re.sub(r'//.*', '', raw)
        line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
        for j, ch in enumerate(line):
            if ch == '{':
                head = line[:j].strip()
                ctx_kind = stack[-1][0] if stack else 'ns'
                if re.search(r'\bnamespace\b', head) or head.startswith('extern "C"'): kind = 'ns'
                elif re.search(r'\b(class|struct|union|enum)\b', head) and '(' not in head: kind = 'cls'
                elif ctx_kind in ('ns', 'cls') and (re.search(r'\)\s*(const)?\s*(override|final|noexcept)?\s*(->\s*[\w:<>&*\s]+)?$', head) or head == '' or re.search(r'[)}]$', head)):
                    kind = 'fn'
                else: kind = 'blk'
                stack.append((kind, i))
            elif ch == '}':
                if not stack: continue
                kind, start = stack.pop()
                if kind == 'fn':
                    n = i - start + 1
                    if n > limit:
                        bad += 1
                        print(f'{f}:{start+1}: function of {n} lines')
sys.exit(1 if bad else 0)
