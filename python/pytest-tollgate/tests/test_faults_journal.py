"""faults and journal: a rule reaches a real client in its dialect's own error shape, exactly as
often as it says; the journal counts it; rules do not outlive their test."""

import pytest
from bluecat_libraries.address_manager.apiv2 import BAMV2ErrorResponse
from bluecat_libraries.address_manager.apiv2 import Client as BamClient

from pytest_tollgate import TollgateApiError, TollgateServer


def test_a_fail_twice_rule_is_seen_exactly_twice_by_bluecat_libraries(tollgate_server: TollgateServer, faults, journal):
    admin = tollgate_server.admin
    client = BamClient(tollgate_server.base_url("bluecat"), verify=tollgate_server.verify)
    client.login(admin.username, admin.password)
    rule = faults.add(dialect="bluecat", method="GET", path="/api/v2/users", status=500, times=2)
    reads = []
    for _ in range(3):
        try:
            client.http_get("/users")
            reads.append("ok")
        except BAMV2ErrorResponse as e:
            reads.append(e.status)
    assert reads == [500, 500, "ok"]
    held = faults.get(rule.name)
    assert (held.fired, held.remaining) == (2, 0)
    journal.verify(2, fault=rule.name)
    assert [entry.status for entry in journal.entries(path="/api/v2/users")] == [500, 500, 200]
    with pytest.raises(AssertionError, match=r"(?s)Expected 3 .*GET /api/v2/users -> 500"):
        journal.verify(3, fault=rule.name)


def test_a_rule_the_server_refuses_says_why(faults):
    with pytest.raises(TollgateApiError) as refused:
        faults.add(status=99)
    assert refused.value.status == 400
    assert "status" in refused.value.message


def test_rules_are_removed_after_their_test(pytester, inner_args):
    pytester.makepyfile(
        """
        def test_one(faults):
            faults.add(dialect="vcd", status=503)
            assert len(faults.list()) == 1

        def test_two(faults):
            assert faults.list() == []
        """
    )
    pytester.runpytest_subprocess(*inner_args).assert_outcomes(passed=2)
