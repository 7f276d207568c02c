"""The server fixtures: real clients log in through them over verified HTTPS; a test's own
server is a new one and is gone after the test; fixtures files; failures that say why."""

import json
import os
from pathlib import Path

import pytest
from bluecat_libraries.address_manager.apiv2 import BAMV2ErrorResponse
from bluecat_libraries.address_manager.apiv2 import Client as BamClient
from pyvcloud.vcd.client import BasicLoginCredentials, Client

from pytest_tollgate import TollgateApiError, TollgateServer, bundled_binary

TESTS = Path(__file__).parent


def test_pyvcloud_logs_in_as_the_administrator(tollgate_server: TollgateServer, tmp_path):
    admin = tollgate_server.admin
    client = Client(
        tollgate_server.base_url("vcd"), verify_ssl_certs=tollgate_server.verify, log_file=str(tmp_path / "pyvcloud.log")
    )
    client.set_credentials(BasicLoginCredentials(admin.username, admin.org, admin.password))
    assert client.get_vcloud_session().get("user") == admin.username
    assert client.is_sysadmin()
    client.logout()


def test_bluecat_libraries_logs_in_and_raises_its_error_for_a_wrong_password(tollgate_server: TollgateServer):
    admin = tollgate_server.admin
    client = BamClient(tollgate_server.base_url("bluecat"), verify=tollgate_server.verify)
    session = client.login(admin.username, admin.password)
    assert session["user"]["name"] == admin.username
    client.logout()
    with pytest.raises(BAMV2ErrorResponse) as refused:
        BamClient(tollgate_server.base_url("bluecat"), verify=tollgate_server.verify).login(admin.username, "wrong-pw-1")
    assert (refused.value.status, refused.value.code) == (401, "InvalidUsernameOrPassword")


def test_the_server_runs_the_binary_the_wheel_installed(tollgate_server: TollgateServer, pytestconfig):
    if pytestconfig.getoption("tollgate_binary"):
        pytest.skip("--tollgate-binary names another binary")
    assert tollgate_server.binary == bundled_binary()
    assert tollgate_server.binary.parent.name == "bin"
    assert os.access(tollgate_server.binary, os.X_OK)


def test_every_dialect_has_a_base_url_and_an_unknown_one_is_named(tollgate_server: TollgateServer):
    assert sorted(tollgate_server.dialects) == ["bluecat", "hcx", "loginsight", "native", "vcd", "vcda"]
    assert tollgate_server.host("hcx") != tollgate_server.host("vcd")
    with pytest.raises(KeyError, match="tollgate serves no dialect 'nsx'; it serves"):
        tollgate_server.base_url("nsx")


def test_admin_api_errors_carry_status_code_and_message(tollgate_server: TollgateServer):
    with pytest.raises(TollgateApiError) as refused:
        tollgate_server.admin_api().request("GET", "/v1/no-such-route")
    assert refused.value.status == 404
    assert refused.value.code and refused.value.message
    assert tollgate_server.admin.api_token not in repr(tollgate_server.admin_api())


def test_a_tests_own_server_is_new_and_gone_after_the_test(pytester, inner_args):
    pytester.makepyfile(
        """
        import json

        def seen(shared, own):
            print("SEEN " + json.dumps({"shared": shared.pid, "own": own.pid, "own_dir": str(own.data_dir)}))
            assert own.pid != shared.pid and own.url != shared.url

        def test_one(tollgate_server, tollgate_own_server):
            seen(tollgate_server, tollgate_own_server)

        def test_two(tollgate_server, tollgate_own_server):
            seen(tollgate_server, tollgate_own_server)
        """
    )
    result = pytester.runpytest_subprocess("-s", *inner_args)
    result.assert_outcomes(passed=2)
    seen = [json.loads(line.split("SEEN ", 1)[1]) for line in result.outlines if "SEEN " in line]
    assert len(seen) == 2
    assert seen[0]["shared"] == seen[1]["shared"], "one server for the session"
    assert seen[0]["own"] != seen[1]["own"], "a server per test"
    for pid in {s["shared"] for s in seen} | {s["own"] for s in seen}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for s in seen:
        assert not os.path.exists(s["own_dir"]), f"{s['own_dir']} is left behind"


FIXTURES = """
[[orgs]]
name = "org1"

[[users]]
org = "org1"
name = "alice"
roles = ["Organization Administrator"]
password = "alice-pw-1"
"""


def test_the_marker_gives_a_tests_own_server_a_fixtures_file(pytester, inner_args, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makefile(".toml", users=FIXTURES)
    pytester.makepyfile(test_marked=(
        """
        import pytest
        from logins import native_login

        @pytest.mark.tollgate_server(fixtures="users.toml")
        def test_alice_logs_in(tollgate_own_server):
            assert native_login(tollgate_own_server, "org1", "alice", "alice-pw-1") == 201

        def test_without_the_marker_there_is_no_alice(tollgate_own_server):
            assert native_login(tollgate_own_server, "org1", "alice", "alice-pw-1") == 401
        """
    ))
    pytester.runpytest_subprocess(*inner_args).assert_outcomes(passed=2)


def test_the_ini_option_gives_every_server_a_fixtures_file(pytester, inner_args, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makefile(".toml", users=FIXTURES)
    pytester.makeini("[pytest]\ntollgate_fixtures = users.toml\n")
    pytester.makepyfile(test_ini=(
        """
        from logins import native_login

        def test_alice_logs_in_on_both(tollgate_server, tollgate_own_server):
            assert native_login(tollgate_server, "org1", "alice", "alice-pw-1") == 201
            assert native_login(tollgate_own_server, "org1", "alice", "alice-pw-1") == 201
        """
    ))
    pytester.runpytest_subprocess(*inner_args).assert_outcomes(passed=1)


def test_a_server_that_cannot_start_fails_the_test_with_its_log(pytester):
    broken = pytester.path / "broken-tollgate"
    broken.write_text("#!/bin/sh\necho 'fixtures users.toml:3: unknown role' >&2\nexit 3\n")
    broken.chmod(0o755)
    pytester.makepyfile("def test_needs_a_server(tollgate_server):\n    pass\n")
    result = pytester.runpytest_subprocess(f"--tollgate-binary={broken}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TollgateStartError*exited (3) before it was ready; its log:*"])
    result.stdout.fnmatch_lines(["*fixtures users.toml:3: unknown role*"])
