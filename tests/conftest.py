import atexit
import json
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
# `make test` runs one xdist worker per core: each IREE compile on one thread (8-15% less time
# than two compiles whose thread pools compete for two cores; the same bytes)
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("AOTC_COMPILE_THREADS", "1")


# ---- scheduling: the heaviest test files first ----
# `make test` runs pytest-xdist with --dist loadfile --no-loadscope-reorder: each file goes whole
# to one worker, in collection order. xdist's own order (most tests first) left the files of a
# few long tests (the random samplers on every target: ~20 min of CPU each) to the end, where one
# worker ran them alone while the other sat idle. Files are ordered by their measured seconds
# (tests/file_durations.json, written by AOTC_RECORD_DURATIONS=path pytest ...), longest first;
# a file not measured yet counts 1 s per test and 30 s per slow-marked test.
DURATIONS = os.path.join(os.path.dirname(__file__), "file_durations.json")
UNMEASURED_TEST_S, UNMEASURED_SLOW_S = 1.0, 30.0


def _file_of(item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    try:
        with open(DURATIONS) as f:
            measured = json.load(f)
    except (OSError, ValueError):
        measured = {}
    estimate = {}
    for item in items:
        name = _file_of(item)
        cost = UNMEASURED_SLOW_S if item.get_closest_marker("slow") else UNMEASURED_TEST_S
        estimate[name] = estimate.get(name, 0.0) + cost
    weight = {name: measured.get(name, cost) for name, cost in estimate.items()}
    items.sort(key=lambda item: -weight[_file_of(item)])  # stable: a file keeps its order


_recorded: dict = {}


def pytest_runtest_logreport(report):
    if os.environ.get("AOTC_RECORD_DURATIONS"):
        name = report.nodeid.split("::", 1)[0]
        _recorded[name] = _recorded.get(name, 0.0) + report.duration


def pytest_sessionfinish(session):
    path = os.environ.get("AOTC_RECORD_DURATIONS")
    if path and _recorded and not hasattr(session.config, "workerinput"):  # the controller
        with open(path, "w") as f:
            json.dump({k: round(v, 1) for k, v in sorted(_recorded.items(),
                                                           key=lambda kv: -kv[1])}, f, indent=0)
            f.write("\n")
