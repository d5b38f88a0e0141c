"""Records transformers' group_by_length order (trainer_pt_utils.get_length_grouped_indices) on the cases
test/length-grouped.test.ts checks mceval's lengthGroupedOrder against, with the versions that produced them:
python3 scripts/record-length-grouped.py > fixtures/batching/length-grouped-transformers.json

transformers draws its shuffle with torch.randperm; each case gives that shuffle instead (torch.randperm is replaced
for the call), so the order recorded is the one transformers makes from the shuffle mceval's seeded Rng makes.
"""
import json
import platform
import random

import torch
import transformers
from transformers import trainer_pt_utils


def case(name, lengths, batch_size, shuffled):
    assert sorted(shuffled) == list(range(len(lengths)))
    real = torch.randperm
    torch.randperm = lambda n, generator=None: torch.tensor(shuffled, dtype=torch.int64)
    try:
        order = trainer_pt_utils.get_length_grouped_indices(lengths, batch_size)
    finally:
        torch.randperm = real
    return {"name": name, "lengths": lengths, "batch_size": batch_size, "shuffled": shuffled, "order": order}


def shuffle(n, seed):
    # Any permutation serves: the test passes each one to mceval's function as its shuffle.
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


cases = []
rng = random.Random(7)
# Many ties (SST-2-like short sentences), several mega-batches, the longest row not in the first.
lengths = [rng.randint(3, 40) for _ in range(200)]
cases.append(case("200 rows, batch 4: mega-batches of 12 batches", lengths, 4, shuffle(200, 1)))
cases.append(case("200 rows, batch 16: mega-batches of 3 batches", lengths, 16, shuffle(200, 2)))
# Fewer rows than 4 batches: mega-batches of one batch.
cases.append(case("10 rows, batch 4: mega-batches of one batch", [5, 9, 9, 2, 7, 9, 1, 3, 9, 4], 4, shuffle(10, 3)))
# The longest length in two mega-batches, neither the first: argmax takes the first of them.
cases.append(case("batch 1, the longest length in the second and third mega-batches",
                  [1, 2, 3, 4, 4, 8, 6, 7, 1, 8, 3, 4, 5, 6, 7, 1], 1, list(range(16))))
# One longest row, in the last mega-batch: it is swapped to the front.
one_long = lengths[:150] + [99] + lengths[151:]
cases.append(case("200 rows, batch 4, the longest row in the last mega-batch", one_long, 4, list(range(200))))
# More than 50 batches a mega-batch would hold: the cap.
long = [rng.randint(1, 12) for _ in range(1000)]
cases.append(case("1000 rows, batch 2: the 50-batch cap", long, 2, shuffle(1000, 5)))
print(json.dumps({
    "provenance": {
        "function": "transformers.trainer_pt_utils.get_length_grouped_indices (mega_batch_mult=None)",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "script": "scripts/record-length-grouped.py",
    },
    "cases": cases,
}))
