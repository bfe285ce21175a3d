"""The pure key-access rules: scopes, key names, role resolution, assignment names, access-policy merge and removal."""

from __future__ import annotations

import pytest

from ansible_collections.azure_cvm.backup.plugins.module_utils import arm_ids as ids
from ansible_collections.azure_cvm.backup.plugins.module_utils import key_access as k

CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CUSTOM = "0b7e4b2e-7c55-5bd5-9d7e-6a0c4b3e2f11"
BMS = "4f1c2a9e-3b7d-4c6e-8a5f-2e1d0c9b8a7f"
DEFINITIONS = [
    {"id": k.HSM_ROLE_ID_PREFIX + CRYPTO_USER, "name": CRYPTO_USER, "role_name": "Managed HSM Crypto User",
     "role_type": "AKVBuiltInRole"},
    {"id": k.HSM_ROLE_ID_PREFIX + CUSTOM, "name": CUSTOM, "role_name": "Backup Key Reader", "role_type": "CustomRole"},
]


# ------------------------------------------------------------------------------------------------ scopes and keys


@pytest.mark.parametrize("given, scope", [
    ("/", "/"), ("", "/"), ("//", "/"), ("/keys", "/keys"), ("keys", "/keys"), ("/keys/", "/keys"),
    ("keys/cvm-hsm-key", "/keys/cvm-hsm-key"), ("/keys/cvm-hsm-key/", "/keys/cvm-hsm-key"),
])
def test_scopes_are_normalised(given, scope):
    assert k.canonical_scope(given, strict=True) == scope


@pytest.mark.parametrize("typo, hint", [
    ("/key/cvm-hsm-key", "Did you mean '/keys/cvm-hsm-key'?"),
    ("/Keys/x", "Did you mean '/keys/x'?"),
    ("/key", "Did you mean '/keys'?"),
    ("/secrets/x", "use '/' (the whole HSM)"),
    ("/keys/a/b", "use '/' (the whole HSM)"),
    ("https://h1.managedhsm.azure.net/keys/k1", "use '/' (the whole HSM)"),
])
def test_scope_typos_are_refused_with_what_was_meant(typo, hint):
    with pytest.raises(ValueError) as err:
        k.canonical_scope(typo, strict=True)
    assert hint in str(err.value) and repr(typo)[1:-1] in str(err.value)


def test_a_key_scope_with_an_invalid_key_name_is_refused():
    with pytest.raises(ValueError, match="not a valid key name"):
        k.canonical_scope("/keys/bad_name", strict=True)


def test_key_names_come_from_names_or_key_urls():
    assert k.key_name("cvm-hsm-key") == "cvm-hsm-key"
    url = "https://hsm-cvm-uae.managedhsm.azure.net/keys/cvm-hsm-key/0f9e8d7c6b5a49382716f5e4d3c2b1a0"
    assert k.key_name(url) == "cvm-hsm-key"
    assert k.key_name(url, "HSM-CVM-UAE") == "cvm-hsm-key"
    with pytest.raises(ValueError, match="belongs to the HSM 'hsm-cvm-uae', not to 'other'"):
        k.key_name(url, "other")
    with pytest.raises(ValueError, match="not a Managed HSM key URL"):
        k.key_name("https://kv-cvm-kc.vault.azure.net/keys/cvm-cmk")
    with pytest.raises(ValueError, match="not a valid key name"):
        k.key_name("a" * 128)


def test_assignment_scope_from_the_options():
    assert k.assignment_scope(key="cvm-hsm-key") == "/keys/cvm-hsm-key"
    assert k.assignment_scope(all_keys=True) == "/keys"
    assert k.assignment_scope(scope="keys/x") == "/keys/x"
    with pytest.raises(ValueError, match="Give the key"):
        k.assignment_scope()
    assert k.is_broad("/") and k.is_broad("/keys") and not k.is_broad("/keys/x")


# ------------------------------------------------------------------------------------------------ roles and names


def test_roles_resolve_by_name_case_insensitively_or_by_any_id_form():
    assert k.resolve_role("managed hsm crypto user", DEFINITIONS)["name"] == CRYPTO_USER
    assert k.resolve_role("Backup Key Reader", DEFINITIONS)["name"] == CUSTOM
    assert k.resolve_role(CRYPTO_USER.upper(), DEFINITIONS)["name"] == CRYPTO_USER
    assert k.resolve_role(k.HSM_ROLE_ID_PREFIX + CUSTOM, DEFINITIONS)["name"] == CUSTOM
    assert k.resolve_role("/" + k.HSM_ROLE_ID_PREFIX + CUSTOM, DEFINITIONS)["name"] == CUSTOM


def test_an_unknown_role_names_the_known_ones():
    with pytest.raises(ValueError) as err:
        k.resolve_role("Managed HSM Crypto Usr", DEFINITIONS)
    assert "no role 'Managed HSM Crypto Usr'" in str(err.value)
    assert "'Backup Key Reader', 'Managed HSM Crypto User'" in str(err.value)
    with pytest.raises(ValueError, match="no role"):
        k.resolve_role("11111111-2222-3333-4444-555555555555", DEFINITIONS)


def test_an_ambiguous_role_name_asks_for_the_id():
    twin = dict(DEFINITIONS[1], id=k.HSM_ROLE_ID_PREFIX + "x", name="9d2f5b8e-1111-4222-8333-444455556666")
    with pytest.raises(ValueError, match="ambiguous"):
        k.resolve_role("backup key reader", DEFINITIONS + [twin])


def test_role_guid_reads_every_id_form():
    assert k.role_guid(CRYPTO_USER) == CRYPTO_USER
    assert k.role_guid(f"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{CRYPTO_USER.upper()}") == CRYPTO_USER
    assert k.role_guid("Managed HSM Crypto User") is None and k.role_guid(None) is None


def test_assignment_names_are_deterministic_and_depend_on_scope_role_and_principal():
    name = k.assignment_name("/keys/cvm-hsm-key", CRYPTO_USER, BMS)
    assert k.is_guid(name)
    assert name == k.assignment_name("/KEYS/cvm-hsm-key", k.HSM_ROLE_ID_PREFIX + CRYPTO_USER, BMS.upper())
    assert len({name, k.assignment_name("/keys", CRYPTO_USER, BMS), k.assignment_name("/keys/cvm-hsm-key", CUSTOM, BMS),
                k.assignment_name("/keys/cvm-hsm-key", CRYPTO_USER, CUSTOM)}) == 4
    assert k.role_definition_name("Backup Key Reader") == k.role_definition_name("backup key reader")
    assert k.role_definition_name("Backup Key Reader") != k.role_definition_name("Other")


def test_equivalent_assignments_are_found_whatever_their_name():
    mine = {"name": "a", "scope": "/keys/cvm-hsm-key", "role_definition_id": k.HSM_ROLE_ID_PREFIX + CRYPTO_USER,
            "principal_id": BMS}
    theirs = dict(mine, name="b", principal_id=BMS.upper(), scope="/keys/CVM-HSM-KEY")
    other_scope = dict(mine, name="c", scope="/keys")
    other_role = dict(mine, name="d", role_definition_id=k.HSM_ROLE_ID_PREFIX + CUSTOM)
    other_principal = dict(mine, name="e", principal_id=CUSTOM)
    found = k.find_assignments([mine, theirs, other_scope, other_role, other_principal], "/keys/cvm-hsm-key", CRYPTO_USER, BMS)
    assert [a["name"] for a in found] == ["a", "b"]


@pytest.mark.parametrize("returned, canonical", [
    ("/keys/k1", "/keys/k1"), ("/keys/k1/", "/keys/k1"), ("keys/k1", "/keys/k1"), ("/KEYS/K1", "/keys/K1"),
    ("https://h1.managedhsm.azure.net/keys/k1", "/keys/k1"), ("https://h1.managedhsm.azure.net/keys/k1/0f9e8d7c", "/keys/k1"),
    ("/", "/"), ("", "/"), (None, "/"), ("/keys", "/keys"), ("/keys/", "/keys"),
    ("https://v1.vault.azure.net/keys/k1", "https://v1.vault.azure.net/keys/k1"), ("/secrets/x", "/secrets/x"),
])
def test_assignment_scopes_returned_in_any_form_compare_in_one_form(returned, canonical):
    assert k.canonical_scope(returned) == canonical


def test_the_sdk_scope_enum_is_read_by_its_value_not_its_name():
    from azure.keyvault.administration import KeyVaultRoleScope  # pylint: disable=import-outside-toplevel
    assert str(KeyVaultRoleScope.KEYS) != "/keys"  # what made the second run miss its own '/keys' assignment
    assert k.canonical_scope(KeyVaultRoleScope.KEYS) == "/keys" and k.canonical_scope(KeyVaultRoleScope.GLOBAL) == "/"
    mine = {"scope": KeyVaultRoleScope.KEYS, "role_definition_id": k.HSM_ROLE_ID_PREFIX + CRYPTO_USER, "principal_id": BMS}
    assert k.find_assignments([mine], "/keys", CRYPTO_USER, BMS) == [mine]
    url_form = {**mine, "scope": "https://h1.managedhsm.azure.net/keys/K1/"}
    assert k.find_assignments([url_form], "/keys/k1", CRYPTO_USER, BMS) == [url_form]
    assert k.find_assignments([url_form], "/keys/k2", CRYPTO_USER, BMS) == []


def test_data_actions_compare_as_sets_and_foreign_actions_are_spotted():
    assert not k.data_actions_differ(list(reversed(k.BACKUP_KEY_DATA_ACTIONS)), [a.upper() for a in k.BACKUP_KEY_DATA_ACTIONS])
    assert k.data_actions_differ(k.BACKUP_KEY_DATA_ACTIONS[:1], k.BACKUP_KEY_DATA_ACTIONS)
    assert k.bad_data_actions(k.BACKUP_KEY_DATA_ACTIONS + ["Microsoft.KeyVault/vaults/keys/read"]) == ["Microsoft.KeyVault/vaults/keys/read"]


# ------------------------------------------------------------------------------------------------ access policies


POLICIES = [
    {"tenantId": "t", "objectId": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", "permissions": {"keys": ["all"], "secrets": ["all"]}},
    {"tenantId": "t", "objectId": BMS, "applicationId": "app", "permissions": {"keys": ["get"]}},
    {"tenantId": "t", "objectId": BMS.upper(), "permissions": {"keys": ["Get", "wrapKey"], "certificates": ["get"]}},
]


def test_the_principals_own_entry_is_found_not_a_compound_identity():
    assert k.find_policy(POLICIES, BMS) is POLICIES[2]
    assert k.find_policy(POLICIES, "00000000-0000-0000-0000-000000000000") is None


def test_missing_permissions_are_what_the_entry_lacks_and_all_covers_everything():
    have = POLICIES[2]["permissions"]
    assert k.missing_permissions(have, k.BACKUP_POLICY_PERMISSIONS) == {"keys": ["list", "backup"], "secrets": ["get", "list"]}
    assert k.missing_permissions(None, k.BACKUP_POLICY_PERMISSIONS) == k.BACKUP_POLICY_PERMISSIONS
    assert k.missing_permissions(POLICIES[0]["permissions"], k.BACKUP_POLICY_PERMISSIONS) == {}


def test_adding_merges_with_what_is_there():
    after = k.add_permissions(POLICIES[2]["permissions"], {"keys": ["list", "backup"], "secrets": ["get", "list"]})
    assert after == {"keys": ["Get", "wrapKey", "list", "backup"], "certificates": ["get"], "secrets": ["get", "list"]}
    assert POLICIES[2]["permissions"] == {"keys": ["Get", "wrapKey"], "certificates": ["get"]}  # not changed in place


def test_removal_takes_only_our_permissions_as_stored_and_never_all():
    have = {"keys": ["Get", "list", "backup", "wrapKey"], "secrets": ["get", "list"], "certificates": ["get"]}
    held = k.held_permissions(have, k.BACKUP_POLICY_PERMISSIONS)
    assert held == {"keys": ["Get", "list", "backup"], "secrets": ["get", "list"]}
    assert k.remove_permissions(have, held) == {"keys": ["wrapKey"], "certificates": ["get"]}
    assert k.held_permissions({"keys": ["all"], "secrets": ["all"]}, k.BACKUP_POLICY_PERMISSIONS) == {}
    assert k.remove_permissions({"keys": ["get"]}, {"keys": ["get"]}) == {}


def test_sorted_permissions_are_stable():
    assert k.sorted_permissions({"secrets": ["List", "get"], "keys": [], "certificates": None}) == {"secrets": ["get", "list"]}


# ------------------------------------------------------------------------------------------------ HSM reference


def test_the_hsm_is_named_by_uri_id_or_name():
    assert k.hsm_reference(None, None, "https://hsm-cvm-uae.managedhsm.azure.net") == {
        "uri": "https://hsm-cvm-uae.managedhsm.azure.net/", "name": "hsm-cvm-uae"}
    rid = "/subscriptions/s1/resourceGroups/rg-cvm-uae/providers/Microsoft.KeyVault/managedHSMs/hsm-cvm-uae"
    assert k.hsm_reference(rid, None, None) == {"name": "hsm-cvm-uae", "resource_group": "rg-cvm-uae", "subscription_id": "s1"}
    assert k.hsm_reference("hsm-cvm-uae", "rg", None)["resource_group"] == "rg"
    with pytest.raises(ValueError, match="not a Managed HSM URI"):
        k.hsm_reference(None, None, "https://kv.vault.azure.net")
    with pytest.raises(ValueError, match="not a managedHSMs resource id"):
        k.hsm_reference("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv", None, None)
    with pytest.raises(ValueError, match="Name the Managed HSM"):
        k.hsm_reference(None, None, None)


def test_key_store_ids_must_name_exactly_the_resource():
    rid = "/subscriptions/s1/resourceGroups/rg-cvm-kc/providers/Microsoft.KeyVault/vaults/kv-cvm-kc"
    assert ids.parse_key_store_id(rid, "vaults") == {"name": "kv-cvm-kc", "resource_group": "rg-cvm-kc", "subscription_id": "s1"}
    for wrong in (rid + "/keys/cvm-cmk", rid.replace("/vaults/", "/managedHSMs/"), "/subscriptions/s1/resourceGroups/rg"):
        with pytest.raises(ValueError, match="is not a vaults resource id"):
            ids.parse_key_store_id(wrong, "vaults")


def test_the_backup_data_actions_are_the_sdks_spelling():
    # confidential-vm-backup.md lists these two for a custom role; azure-keyvault-administration spells them so
    # (KeyVaultDataAction.READ_HSM_KEY, .BACKUP_HSM_KEYS), as the service expects them.
    from azure.keyvault.administration import KeyVaultDataAction  # pylint: disable=import-outside-toplevel
    assert k.BACKUP_KEY_DATA_ACTIONS == [KeyVaultDataAction.READ_HSM_KEY.value, KeyVaultDataAction.BACKUP_HSM_KEYS.value]
