"""App for wsginit's operations tests (tests/integration/test_operations.py).

lifecycle.py's routes (/, /pid, /sleep?s=, /hang, ...), plus a slow import on demand, so
that a test can hold a worker in BOOTING long enough to observe /readyz and /livez:

  OPS_IMPORT_SLEEP=s         every import of this module sleeps s seconds
  OPS_SLOW_IMPORT_FILE=path  an import sleeps float(<file's content>) seconds when the
                             file exists (so the first worker boots fast and a
                             replacement, forked after the test wrote the file, slowly)
  OPS_IMPORT_GATE=path       an import waits while the file exists (the test removes it
                             to let the workers boot)
"""
import os
import time

from lifecycle import application  # noqa: F401  (the routes)


def _import_delay():
    delay = float(os.environ.get("OPS_IMPORT_SLEEP", "0") or 0)
    flag = os.environ.get("OPS_SLOW_IMPORT_FILE")
    if flag and os.path.exists(flag):
        with open(flag) as f:
            delay += float(f.read().strip() or 0)
    if delay:
        time.sleep(delay)
    gate = os.environ.get("OPS_IMPORT_GATE")
    while gate and os.path.exists(gate):
        time.sleep(0.01)


_import_delay()
