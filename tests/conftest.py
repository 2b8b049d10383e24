import atexit
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
# One compilation cache per test session (aotc.tools.cache), never the user's ~/.cache/aotc.
# pytest-xdist's workers inherit it from the controller, which made it and removes it at exit:
# a program compiled by one worker is not compiled again by the other (the cache is safe for
# concurrent processes).
if "AOTC_TEST_CACHE_DIR" not in os.environ:
    os.environ["AOTC_TEST_CACHE_DIR"] = tempfile.mkdtemp(prefix="aotc-test-cache-")
    atexit.register(shutil.rmtree, os.environ["AOTC_TEST_CACHE_DIR"], ignore_errors=True)
os.environ["AOTC_CACHE_DIR"] = os.environ["AOTC_TEST_CACHE_DIR"]
os.environ.setdefault("AOTC_VERIFY_PASSES", "1")  # verify the IR after every aotc pass
