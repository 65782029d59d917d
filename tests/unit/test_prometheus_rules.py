"""The alert rules load in a real promtool, and its unit tests pass: a stalled group fires,
a recovering one resolves, a stopped one fires, an UNKNOWN one does not.

promtool comes with Debian's `prometheus` package, which `make install` installs when it is
missing; these tests fail (never skip) without it.
"""

from __future__ import annotations

import shutil
import subprocess

from ketenbus.settings import PROJECT_ROOT

PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool missing: `make install` installs Debian's prometheus"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


class TestPromtool:
    """promtool accepts the rules and the scrape config, and the rule unit tests pass."""

    def test_check_rules(self) -> None:
        done = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
        assert (0, "") == (done.returncode, done.stderr)

    def test_rule_unit_tests(self) -> None:
        done = promtool("test", "rules", str(PROMETHEUS / "tests" / "alerts_test.yml"))
        assert 0 == done.returncode, done.stdout + done.stderr

    def test_check_config(self) -> None:
        done = promtool("check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))
        assert 0 == done.returncode, done.stdout + done.stderr
