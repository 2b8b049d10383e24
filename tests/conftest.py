import atexit
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
# One compilation cache per test session (aotc.tools.cache), never the user's ~/.cache/aotc.
os.environ["AOTC_CACHE_DIR"] = tempfile.mkdtemp(prefix="aotc-test-cache-")
atexit.register(shutil.rmtree, os.environ["AOTC_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("AOTC_VERIFY_PASSES", "1")  # verify the IR after every aotc pass
