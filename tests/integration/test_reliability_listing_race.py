"""Issue 18, point 7: a listing sees every waiting task exactly once while a promoting process
moves parked tasks into the spool directory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import pack
from spoolrt.core.codec.serializers import Signer
from spoolrt.observe.scan import scan
from spoolrt.spooldir.parking import iter_parked, place_spool_file

KEY = "listing-race-key-0123456789"
BUCKETS, PER_BUCKET = 40, 15

#: Promotes one more minute bucket each time it reads a byte: a step runs while a listing does.
PROMOTER = """
import sys
from spoolrt.spooldir.parking import promote_due
spool, base = sys.argv[1], float(sys.argv[2])
step = 0
while sys.stdin.buffer.read(1):
    promote_due(spool, now=base + step * 60 - 60)
    step += 1
"""


def test_listings_see_each_task_once_while_tasks_are_promoted(tmp_path: Path) -> None:
    signer = Signer([KEY])
    base = float(int(time.time() // 60 + 120) * 60)  # two hours ahead, on a bucket boundary
    ids = []
    for i in range(BUCKETS * PER_BUCKET):
        at = base + (i // PER_BUCKET) * 60 + 1
        env = Envelope(task_id=f"t{i}", type_id="fcall", payload=b"", at=at, enqueued_at=0.0)
        place_spool_file(
            str(tmp_path), pack(spool_vars(env), encode_body(env, signer)), at=at, priority=None
        )
        ids.append(env.task_id)
    promoter = subprocess.Popen(
        [sys.executable, "-c", PROMOTER, str(tmp_path), str(base)], stdin=subprocess.PIPE
    )
    assert promoter.stdin is not None
    bad = []
    try:
        for _listing in range(BUCKETS + 2):  # bounded: one promotion step per listing
            promoter.stdin.write(b"x")
            promoter.stdin.flush()
            seen = Counter(e.task_id for e in scan([str(tmp_path)], signer, now=time.time()))
            if set(seen) != set(ids) or max(seen.values()) != 1:
                missing = len(set(ids) - set(seen))
                bad.append((missing, [t for t, n in seen.items() if n > 1][:3]))
    finally:
        promoter.stdin.close()
        promoter.wait(30)
    assert list(iter_parked(str(tmp_path))) == []  # every bucket did move during the listings
    assert bad == [], f"{len(bad)} of {BUCKETS + 2} listings missed or doubled tasks: {bad[:5]}"
