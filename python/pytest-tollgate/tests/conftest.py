"""The plugin's own tests: pytest-tollgate is installed (its entry point loads it); pytester
runs inner test sessions for what only a whole session shows (a server stopping after its
test, how a failed start reads)."""

from typing import List

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def inner_args(pytestconfig: pytest.Config) -> List[str]:
    """Arguments an inner session needs to run the same binary as this one."""
    binary = pytestconfig.getoption("tollgate_binary")
    return [f"--tollgate-binary={binary}"] if binary else []
