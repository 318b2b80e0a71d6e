#!/usr/bin/env python3
"""run.py: runs the black-box HTTP test suite against a real server binary.

    python3 tests/http/run.py --binary build/vocero --database sqlite
    python3 tests/http/run.py --binary build/vocero --database postgresql:///db?host=...

Prints one line per test and a final "N passed, N failed" line."""
import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import config  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/vocero")
    ap.add_argument("--database", default="sqlite")
    ap.add_argument("-k", dest="pattern", default=None, help="only tests whose id contains this")
    a = ap.parse_args()
    config.BINARY = os.path.abspath(a.binary)
    config.DATABASE = a.database
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    if a.pattern:
        def keep(s):
            out = unittest.TestSuite()
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    out.addTests(keep(t))
                elif a.pattern in t.id():
                    out.addTest(t)
            return out
        suite = keep(suite)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - len(result.failures) - len([e for e in result.errors if e[0].id() and not e[0].id().startswith('setUpClass')]) - skipped)
    label = "sqlite" if a.database == "sqlite" else "postgresql"
    print("http-%s: %d passed, %d failed, %d skipped" % (label, passed, failed, skipped))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
