"""Where credentials come from: the rules of plugins/module_utils/auth.py."""

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils.auth import SECRET_FIELDS, AuthError, canonical_cloud, resolve_auth

SP_ENV = {"AZURE_CLIENT_ID": "cid", "AZURE_SECRET": "s3cret", "AZURE_TENANT": "tid", "AZURE_SUBSCRIPTION_ID": "sub"}


def no_file(path, profile):
    raise AssertionError("the credential file must not be read")


def test_awx_environment_names_give_a_service_principal():
    auth = resolve_auth({"auth_source": "auto"}, SP_ENV, file_reader=no_file)
    assert (auth["kind"], auth["client_id"], auth["secret"], auth["tenant"], auth["subscription_id"]) == \
        ("client_secret", "cid", "s3cret", "tid", "sub")
    assert auth["source"] == "env" and auth["cloud"] == "AzureCloud"


def test_azure_identity_names_work_too():
    env = {"AZURE_CLIENT_ID": "cid", "AZURE_CLIENT_SECRET": "x", "AZURE_TENANT_ID": "tid"}
    assert resolve_auth({}, env, file_reader=no_file)["kind"] == "client_secret"


def test_parameters_win_over_environment():
    auth = resolve_auth({"client_id": "p-cid", "secret": "p-sec", "tenant": "p-tid"}, SP_ENV, file_reader=no_file)
    assert (auth["client_id"], auth["secret"], auth["source"]) == ("p-cid", "p-sec", "parameters")
    assert auth["subscription_id"] == "sub"  # still from the environment


def test_user_password_and_workload_identity():
    assert resolve_auth({}, {"AZURE_AD_USER": "u@x", "AZURE_PASSWORD": "p"}, file_reader=no_file)["kind"] == "user_password"
    env = {"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"}
    assert resolve_auth({"auth_source": "workload_identity"}, env)["kind"] == "workload_identity"
    with pytest.raises(AuthError, match="AZURE_FEDERATED_TOKEN_FILE"):
        resolve_auth({"auth_source": "workload_identity"}, {"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"})


def test_credential_file_profile(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\nsubscription_id=s0\nclient_id=c0\nsecret=x0\ntenant=t0\n"
                    "[prod]\nsubscription_id=s1\nclient_id=c1\nsecret=x1\ntenant=t1\ncloud_environment=AzureUSGovernment\n")
    env = {"AZURE_CREDENTIALS_FILE": str(path), "AZURE_PROFILE": "prod"}
    auth = resolve_auth({"auth_source": "credential_file"}, env)
    assert (auth["client_id"], auth["subscription_id"], auth["cloud"]) == ("c1", "s1", "AzureUSGovernment")
    auth = resolve_auth({"auth_source": "credential_file", "profile": "default"}, env)
    assert auth["client_id"] == "c0"
    with pytest.raises(AuthError, match=r"no profile \[nope\]"):
        resolve_auth({"auth_source": "credential_file", "profile": "nope"}, env)


def test_auto_falls_back_to_file_then_cli_then_msi_then_error(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\nclient_id=c\nsecret=x\ntenant=t\n")
    assert resolve_auth({}, {"AZURE_CREDENTIALS_FILE": str(path)})["source"] == "credential_file"
    empty = {"AZURE_CREDENTIALS_FILE": str(tmp_path / "missing")}
    assert resolve_auth({}, empty, cli_available=True)["kind"] == "cli"
    assert resolve_auth({}, {**empty, "IDENTITY_ENDPOINT": "http://169.254.169.254"})["kind"] == "msi"
    with pytest.raises(AuthError, match="No Azure credentials found"):
        resolve_auth({}, empty)


def test_env_source_requires_complete_credentials():
    with pytest.raises(AuthError, match="AZURE_SECRET"):
        resolve_auth({"auth_source": "env"}, {"AZURE_CLIENT_ID": "c"})


@pytest.mark.parametrize("name, want", [(None, "AzureCloud"), ("AzurePublicCloud", "AzureCloud"),
                                        ("azureusgovernment", "AzureUSGovernment"), ("AzureChinaCloud", "AzureChinaCloud")])
def test_cloud_names(name, want):
    assert canonical_cloud(name) == want


def test_unknown_cloud_is_refused():
    with pytest.raises(AuthError, match="Unknown cloud_environment 'Mars'"):
        resolve_auth({"cloud_environment": "Mars"}, SP_ENV)


# ---- issue 18 item 7: certificate service principals and ANSIBLE_AZURE_AUTH_SOURCE, as azure.azcollection

CERT_ENV = {"AZURE_CLIENT_ID": "cid", "AZURE_TENANT": "tid", "AZURE_SUBSCRIPTION_ID": "sub",
            "AZURE_CLIENT_CERTIFICATE_PATH": "/etc/sp.pem", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"}


def test_certificate_from_the_azure_identity_environment_names():
    auth = resolve_auth({}, CERT_ENV, file_reader=no_file)
    assert (auth["kind"], auth["client_certificate_path"], auth["client_certificate_password"]) == \
        ("client_certificate", "/etc/sp.pem", "pw")
    assert auth["source"] == "env"


def test_certificate_parameters_and_a_secret_in_the_environment():
    # a complete secret credential in the environment is still a secret sign-in; the parameters win when complete
    auth = resolve_auth({"client_id": "p", "tenant": "t", "client_certificate_path": "/p.pem"}, SP_ENV, file_reader=no_file)
    assert (auth["kind"], auth["source"], auth["client_certificate_path"]) == ("client_certificate", "parameters", "/p.pem")
    assert resolve_auth({}, {**SP_ENV, "AZURE_CLIENT_CERTIFICATE_PATH": "/e.pem"}, file_reader=no_file)["kind"] == "client_secret"


def test_certificate_password_is_a_secret_field():
    assert "client_certificate_password" in SECRET_FIELDS


def test_auth_source_from_ansible_azure_auth_source():
    env = {**SP_ENV, "ANSIBLE_AZURE_AUTH_SOURCE": "cli"}
    assert resolve_auth({}, env, file_reader=no_file)["kind"] == "cli"
    # the module option wins over the variable
    assert resolve_auth({"auth_source": "env"}, env, file_reader=no_file)["kind"] == "client_secret"
    assert resolve_auth({}, {**SP_ENV, "ANSIBLE_AZURE_AUTH_SOURCE": "msi"}, file_reader=no_file)["kind"] == "msi"
    with pytest.raises(AuthError, match="ANSIBLE_AZURE_AUTH_SOURCE=vault is not an auth source"):
        resolve_auth({}, {**SP_ENV, "ANSIBLE_AZURE_AUTH_SOURCE": "vault"}, file_reader=no_file)


def test_ansible_azure_auth_source_credential_file(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\nclient_id = f\nsecret = s\ntenant = t\n")
    env = {"ANSIBLE_AZURE_AUTH_SOURCE": "credential_file", "AZURE_CREDENTIALS_FILE": str(path), **SP_ENV}
    auth = resolve_auth({}, env)
    assert (auth["source"], auth["client_id"]) == ("credential_file", "f")
