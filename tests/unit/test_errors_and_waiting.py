"""Error translation and waiting: plugins/module_utils/errors.py and waiting.py."""

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import describe_error
from ansible_collections.azure_cvm.backup.plugins.module_utils.waiting import WaitTimeout, wait_for


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
