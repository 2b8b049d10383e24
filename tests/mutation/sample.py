"""Keep a random sample of a cosmic-ray session's mutants: mark the others skipped.

    python tests/mutation/sample.py SESSION.sqlite COUNT [SEED]
"""

import random
import sys

from cosmic_ray.work_db import use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult


def main(session: str, count: int, seed: int = 0) -> None:
    with use_db(session) as db:
        ids = sorted(item.job_id for item in db.pending_work_items)
        keep = set(random.Random(seed).sample(ids, min(count, len(ids))))
        skipped = [job_id for job_id in ids if job_id not in keep]
        db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    print(f"{session}: {len(keep)} of {len(ids)} mutants sampled (seed {seed})")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *[int(a) for a in sys.argv[3:4]])
