"""Error translation and waiting: plugins/module_utils/errors.py and waiting.py."""

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import WaitTimeout, wait_for, wait_poller


class FakeResponse:
    def __init__(self, status, body, headers=None):
        import json
        self.status_code = status
        self.headers = headers or {}
        self.reason = "x"
        self._body = json.dumps(body).encode()
        self.content_type = "application/json"

    def body(self):
        return self._body

    def text(self, encoding=None):
        return self._body.decode()

    def json(self):
        import json
        return json.loads(self._body)


def http_error(status, body, headers=None):
    return HttpResponseError(response=FakeResponse(status, body, headers))


def test_arm_403_names_the_fix_and_the_correlation_id():
    exc = http_error(403, {"error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have authorization."}},
                     {"x-ms-correlation-request-id": "corr-1"})
    out = describe_error(exc, "register feature F", "subscription S", hint="assign Contributor on the subscription")
    assert out["msg"].startswith("Failed to register feature F on subscription S: The client 'x' does not have authorization.")
    assert "(error code AuthorizationFailed, HTTP 403)" in out["msg"]
    assert "To fix: assign Contributor on the subscription" in out["msg"]
    assert "Correlation id: corr-1" in out["msg"]
    assert (out["error_code"], out["status_code"], out["correlation_id"]) == ("AuthorizationFailed", 403, "corr-1")


def test_managed_hsm_403_default_hint():
    exc = http_error(403, {"error": {"code": "Forbidden", "message": "Caller is not authorized"}})
    assert "Managed HSM Administrator" in describe_error(exc, "assign a role", plane="managedhsm")["msg"]


def test_sign_in_failure_says_which_setting_and_masks_the_secret():
    exc = ClientAuthenticationError(message="AADSTS7000215: Invalid client secret provided. secret=TopSecret123")
    out = describe_error(exc, "read feature", secrets=["TopSecret123"])
    assert "Azure sign-in failed" in out["msg"] and "AZURE_SECRET" in out["msg"]
    assert "TopSecret123" not in out["msg"] and "********" in out["msg"]


def test_connection_error_points_at_proxy_and_ca():
    out = describe_error(ServiceRequestError("Connection refused"), "list VMs")
    assert "HTTPS_PROXY" in out["msg"] and "REQUESTS_CA_BUNDLE" in out["msg"]


def test_wait_for_returns_when_done_and_backs_off():
    values = iter([1, 2, 3])
    sleeps = []
    assert wait_for("x", lambda: next(values), lambda v: v == 3, timeout=100, interval=2, sleep=sleeps.append) == 3
    assert sleeps == [2, 3.0]


def test_wait_for_times_out_with_what_and_last_value():
    clock = iter(range(0, 1000, 10))
    with pytest.raises(WaitTimeout) as info:
        wait_for("feature F to be Registered", lambda: "Registering", lambda v: False, timeout=25,
                 sleep=lambda s: None, clock=lambda: next(clock))
    assert "feature F to be Registered" in info.value.msg and info.value.last == "Registering"


# ------------------------------------------------------------------------------------------------ wait_poller


class EndlessPolling:
    """An azure-core PollingMethod whose operation never finishes until `release` is set (Azure still working)."""

    def __init__(self, outcome=None, error=None):
        import threading
        self.release = threading.Event()
        self.outcome, self.error = outcome, error

    def initialize(self, client, initial_response, deserialization_callback):
        pass

    def run(self):
        self.release.wait(30)
        if self.error:
            raise self.error

    def status(self):
        return "Succeeded" if self.release.is_set() else "InProgress"

    def finished(self):
        return self.release.is_set()

    def resource(self):
        return self.outcome

    def get_continuation_token(self):
        return "token"


def lro_poller(polling):
    from azure.core.polling import LROPoller
    return LROPoller(None, None, None, polling)


def test_wait_poller_on_a_poller_that_never_finishes_fails_with_one_sentence():
    polling = EndlessPolling(outcome={"never": "returned"})
    poller = lro_poller(polling)
    try:
        with pytest.raises(WaitTimeout) as info:
            wait_poller(poller, "the deletion of backup policy P", 0.2)
    finally:
        polling.release.set()
    msg = info.value.msg
    assert msg.startswith("Timed out after 0.2s waiting for the deletion of backup policy P;")
    assert msg.count(". ") == 0 and msg.endswith("."), "one sentence"
    assert info.value.last == "InProgress"
    # what wait_poller guards against: result(timeout) alone returns without an error while Azure is still working
    polling2 = EndlessPolling(outcome=None)
    unfinished = lro_poller(polling2)
    try:
        assert unfinished.result(timeout=0.1) is None and not unfinished.done()
    finally:
        polling2.release.set()


def test_wait_poller_returns_the_result_of_a_finished_poller():
    polling = EndlessPolling(outcome={"id": "x"})
    polling.release.set()
    assert wait_poller(lro_poller(polling), "x", 5) == {"id": "x"}


def test_wait_poller_raises_the_error_of_a_failed_operation():
    polling = EndlessPolling(error=HttpResponseError(message="Operation failed or canceled"))
    poller = lro_poller(polling)
    polling.release.set()
    with pytest.raises(HttpResponseError):
        wait_poller(poller, "x", 5)
