"""Correct MBPP solutions written from each problem's prompt and shown tests, not from its gold
program (other algorithms where there are any). A hidden test one of them fails is a contract
the hidden-test generator broke: a false reject (tests/test_hidden_tests.py, bench_verifiers)."""

SOLUTIONS = {
    11: '''
def remove_Occ(s, ch):
    first, last = s.find(ch), s.rfind(ch)
    if first < 0:
        return s
    if first == last:
        return s[:first] + s[first + 1:]
    return s[:first] + s[first + 1:last] + s[last + 1:]
''',
    12: '''
def sort_matrix(M):
    rows = [(sum(r), i, r) for i, r in enumerate(M)]
    rows.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in rows]
''',
    14: '''
def find_Volume(l, b, h):
    base_area = 0.5 * l * b
    return base_area * h
''',
    17: '''
def square_perimeter(a):
    return a + a + a + a
''',
    18: '''
def remove_dirty_chars(string, second_string):
    banned = set(second_string)
    return "".join(c for c in string if c not in banned)
''',
    19: '''
def test_duplicate(arraynums):
    seen = set()
    for x in arraynums:
        if x in seen:
            return True
        seen.add(x)
    return False
''',
    57: '''
def find_Max_Num(arr):
    digits = sorted(map(str, arr), reverse=True)
    return int("".join(digits))
''',
    58: '''
def opposite_Signs(x, y):
    return (x < 0 < y) or (y < 0 < x)
''',
    59: '''
def is_octagonal(n):
    return n * (3 * n - 2)
''',
    61: '''
def count_Substrings(s):
    count = 0
    for i in range(len(s)):
        total = 0
        for j in range(i, len(s)):
            total += int(s[j])
            if total == j - i + 1:
                count += 1
    return count
''',
    62: '''
def smallest_num(xs):
    best = xs[0]
    for x in xs[1:]:
        if x < best:
            best = x
    return best
''',
    63: '''
def max_difference(test_list):
    return max(abs(a - b) for a, b in test_list)
''',
    64: '''
def subject_marks(subjectmarks):
    out = list(subjectmarks)
    for i in range(1, len(out)):
        j = i
        while j > 0 and out[j - 1][1] > out[j][1]:
            out[j - 1], out[j] = out[j], out[j - 1]
            j -= 1
    return out
''',
    65: '''
def recursive_list_sum(data_list):
    total, stack = 0, [data_list]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        else:
            total += item
    return total
''',
    66: '''
def pos_count(xs):
    return len([x for x in xs if x > 0])
''',
    68: '''
def is_Monotonic(A):
    pairs = list(zip(A, A[1:]))
    return all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs)
''',
    70: '''
def get_equal(Input):
    return len({len(t) for t in Input}) <= 1
''',
    71: '''
def comb_sort(nums):
    out = []
    for x in nums:
        lo, hi = 0, len(out)
        while lo < hi:
            mid = (lo + hi) // 2
            if out[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        out.insert(lo, x)
    return out
''',
    75: '''
def find_tuples(test_list, K):
    return [t for t in test_list if not any(x % K for x in t)]
''',
    79: '''
def word_len(s):
    return len(s) % 2 == 1
''',
    80: '''
def tetrahedral_number(n):
    return sum(k * (k + 1) // 2 for k in range(1, n + 1))
''',
    82: '''
import math
def volume_sphere(r):
    return 4.0 / 3.0 * math.pi * r ** 3
''',
    85: '''
import math
def surfacearea_sphere(r):
    return 4 * math.pi * r * r
''',
    86: '''
def centered_hexagonal_number(n):
    return 1 + 6 * (n - 1) * n // 2
''',
    88: '''
def freq_count(list1):
    counts = {}
    for x in list1:
        counts[x] = counts.get(x, 0) + 1
    return counts
''',
    89: '''
def closest_num(N):
    return N - 1
''',
    90: '''
def len_log(list1):
    longest = 0
    for word in list1:
        longest = max(longest, len(word))
    return longest
''',
    91: '''
def find_substring(str1, sub_str):
    return any(sub_str in s for s in str1)
''',
    93: '''
def power(a, b):
    result = 1
    for _ in range(b):
        result *= a
    return result
''',
    94: '''
def index_minimum(test_list):
    return min(test_list, key=lambda t: t[1])[0]
''',
    95: '''
def Find_Min_Length(lst):
    return min(map(len, lst))
''',
    96: '''
def divisor(n):
    count, d = 0, 1
    while d * d <= n:
        if n % d == 0:
            count += 1 if d * d == n else 2
        d += 1
    return count
''',
    97: '''
from collections import Counter
def frequency_lists(list1):
    counter = Counter()
    for sub in list1:
        counter.update(sub)
    return dict(counter)
''',
}
