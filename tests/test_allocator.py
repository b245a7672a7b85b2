"""The allocator setting of training processes: freed blocks of a step are reused, not faulted in again."""
import subprocess
import sys

PROBE = """
import resource, torch
from iin.allocator import steady_allocator

def faults(blocks=16, mb=40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(blocks):
        block = torch.ones(mb << 18)  # mb MB of float32, every page touched
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

plain = faults()
assert steady_allocator()
faults(1)  # the heap grows once
print(plain, faults())
"""


def test_steady_allocator_reuses_freed_blocks_instead_of_faulting_them_in():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    plain, steady = int(out[0]), int(out[1])
    assert plain > 16 * 5000  # glibc's default: a 40 MB block is a fresh map, ~10,000 pages faulted each time
    assert steady < plain / 8  # at most a block or two mapped afresh where the heap cannot grow in place
