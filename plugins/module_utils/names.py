# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure's naming rules for every name the collection puts into a request path, checked in one place before any request.

A name that becomes a path segment (a resource group, a vault, a policy, a VM, ...) must be one segment of the
resource it names: no '/', '\\', '?', '#', '%', no control characters, never '.' or '..', and within the length and
characters Azure allows for that resource type. Sources (written beside each rule):
- "Naming rules and restrictions for Azure resources",
  https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
- the `pattern` of the path parameters in Azure/azure-rest-api-specs (named per rule).
Modules declare which option holds which kind of name (AzureCvmModule(..., names={"name": "vault"})); base.py checks
them before the first request. Pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import re


def ascii_segment(longest: int) -> tuple:
    """The rule of one ASCII path segment of letters, digits, '-', '_' and '.', 1 to `longest` characters, starting
    with a letter or digit (for names whose length or characters no source states more exactly)."""
    return (re.compile(r"[A-Za-z0-9][-\w.]{0,%d}" % (longest - 1), re.ASCII),
            f"1 to {longest} ASCII letters, digits, '-', '_' or '.', starting with a letter or digit")


GUID = (re.compile(r"[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}"), "a GUID")

# kind -> (regex the whole name must match, what a person is told), with where the rule comes from
RULES = {
    # resource-name-rules, resourcegroups: 1-90, underscores, hyphens, periods, parentheses, letters or digits
    # (Unicode letters allowed), cannot end in a period; specs common-types ResourceGroupNameParameter
    # pattern ^[-\w\._\(\)]+$, maxLength 90.
    "resource_group": (re.compile(r"[-\w.()]{0,89}[-\w()]"),
                       "1 to 90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'"),
    # resource-name-rules, Microsoft.RecoveryServices vaults: 2-50, alphanumerics and hyphens, start with a letter.
    "vault": (re.compile(r"[A-Za-z][-A-Za-z0-9]{1,49}"),
              "2 to 50 letters, digits and '-', starting with a letter"),
    # Backup policies: the resource-name-rules page has no row; the portal refuses anything but letters, digits, '-'
    # and '_' (UNVERIFIED beyond that), and the specs' policyName has no pattern. Kept to one safe path segment of
    # ASCII letters, digits, '-', '_' and '.', 1 to 150 characters (UNVERIFIED limit), starting with a letter or digit.
    "policy": ascii_segment(150),
    # resource-name-rules, Microsoft.Compute virtualMachines: 1-64 (Linux; 15 for Windows computer names), no spaces,
    # control characters or ~!@#$%^&*()=+_[]{}\|;:.'",<>/? except that '_' and '.' are allowed inside; cannot begin
    # with '_' or end with '.' or '-'. Kept as the collection has always read VM ids (arm_ids.VM_NAME_RE).
    "vm": (re.compile(r"[A-Za-z0-9_][-\w.]{0,63}", re.ASCII),
           "1 to 64 ASCII letters, digits, '-', '_' or '.'"),
    # Azure/azure-rest-api-specs hybridcompute readme (machineName): pattern ^[a-zA-Z0-9-_\.]{1,54}$, maxLength 54.
    "azure_local_vm": (re.compile(r"[-A-Za-z0-9_.]{1,54}"), "1 to 54 ASCII letters, digits, '-', '_' or '.'"),
    # The other Azure Local resources a VM refers to by name (gallery images, network interfaces, storage paths,
    # custom locations): one ASCII path segment of letters, digits, '-', '_' and '.', 1 to 80 characters (UNVERIFIED
    # limit; the resource ids of these are checked for traversal segments).
    "azure_local_resource": ascii_segment(80),
    # resource-name-rules, Microsoft.KeyVault vaults and managedHSMs: 3-24, alphanumerics and hyphens, start with a
    # letter, end with a letter or digit, no consecutive hyphens.
    "key_vault": (re.compile(r"[A-Za-z](?!.*--)[-A-Za-z0-9]{1,22}[A-Za-z0-9]"),
                  "3 to 24 letters, digits and single '-', starting with a letter and ending with a letter or digit"),
    # resource-name-rules, Microsoft.Storage storageAccounts: 3-24, lowercase letters and numbers.
    "storage_account": (re.compile(r"[a-z0-9]{3,24}"), "3 to 24 lowercase letters and digits"),
    # Resource provider namespaces (Microsoft.Compute, Microsoft.RecoveryServices): dotted ASCII words.
    "provider_namespace": (re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*){1,3}"),
                           "a resource provider namespace such as Microsoft.Compute"),
    # Preview feature names (features/{featureName}; the specs give no pattern): one ASCII path segment.
    "feature": ascii_segment(128),
    # Recovery points and backup jobs are named by Azure (numbers or GUIDs); one ASCII segment.
    "azure_assigned": (re.compile(r"[A-Za-z0-9][-\w]{0,127}", re.ASCII),
                       "the name Azure gave it (ASCII letters, digits, '-' and '_')"),
    # Regions, by form only (membership: region_refusal, once per run against the subscription's list): an ARM location
    # name (koreacentral) or a display name (Korea Central, East US 2), 1 to 64 ASCII letters, digits and spaces.
    "region": (re.compile(r"[A-Za-z][A-Za-z0-9 ]{0,63}", re.ASCII),
               "an ARM location name such as koreacentral or its display name Korea Central (ASCII letters, digits, spaces)"),
    # Any one path segment (the subscription of a resource id, which Azure then resolves or refuses).
    "segment": (re.compile(r".{1,256}", re.S), "1 to 256 characters"),
    # Subscription ids are GUIDs (common-types SubscriptionIdParameter: format uuid).
    "subscription": GUID,
    # Entra object ids (a service principal's id, Microsoft Graph servicePrincipal.id) are GUIDs too.
    "object_id": GUID,
}

# Regions are checked in two steps (issue 17 item 4). Here, before any request, the form only: an ARM location name
# (koreacentral) or a display name (Korea Central), ASCII letters, digits and spaces. Then, once per module run and before
# the first write, membership in the subscription's own list, Subscriptions - List Locations
# (GET /subscriptions/{id}/locations, api-version 2022-12-01; spec Microsoft.Resources/subscriptions/stable/2022-12-01/
# subscriptions.json, example GetLocations.json: value[] of Location {name: eastus, displayName: East US, type: Region}):
# base.AzureCvmModule.execute calls check_listed_regions (module_utils/regions.py) for every option declared "region".
#
# AZURE_REGIONS is only the fallback for a run whose caller may not read that list (403) or when the list cannot be had
# (404, 5xx after retries): the region is then checked against it, with a warning that says so. It was written from
# `az account list-locations --query "[].name"` (Azure/azure-cli) and https://learn.microsoft.com/azure/reliability/
# regions-list, read 2026-12, and is known to be incomplete (the Azure Cosmos DB SDKs' region tables list regions it
# lacks, e.g. taiwannorth, denmarkeast), so in that fallback a real region can be refused: the refusal says why.
AZURE_REGIONS = frozenset("""
eastus eastus2 southcentralus westus2 westus3 australiaeast southeastasia northeurope swedencentral uksouth westeurope
centralus southafricanorth centralindia eastasia japaneast koreacentral canadacentral francecentral germanywestcentral
italynorth norwayeast polandcentral spaincentral switzerlandnorth mexicocentral uaenorth brazilsouth israelcentral
qatarcentral northcentralus westus japanwest jioindiawest westcentralus southafricawest australiacentral
australiacentral2 australiasoutheast koreasouth southindia westindia canadaeast francesouth germanynorth norwaywest
switzerlandwest ukwest uaecentral brazilsoutheast jioindiacentral swedensouth newzealandnorth indonesiacentral
malaysiawest chilecentral austriaeast belgiumcentral centraluseuap eastus2euap
usgovvirginia usgovarizona usgovtexas usdodcentral usdodeast
chinaeast chinaeast2 chinaeast3 chinanorth chinanorth2 chinanorth3
""".split())


def region_key(value: str) -> str:
    """A region as ARM compares it: 'Korea Central', 'koreacentral' and 'KOREA central' are one region."""
    return "".join(str(value).split()).lower()


def region_refusal(option: str, value: str, listed: list, where: str) -> str | None:
    """None when `value` names one of `listed` ((name, display name) pairs) by its name or display name; else one
    sentence naming the region and the closest listed names (`where` says whose list it was)."""
    key = region_key(value)
    names = sorted({region_key(name) for name, _display in listed if name})
    if key in names or key in {region_key(display) for _name, display in listed if display}:
        return None
    closest = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f"the closest listed are {', '.join(closest)}" if closest else f"it lists {len(names)} regions, none close to it"
    return f"{option} '{shown(value)}' is not an Azure region {where} ({hint})."


WHAT = {"resource_group": "resource group name", "vault": "Recovery Services vault name", "policy": "backup policy name",
        "vm": "virtual machine name", "azure_local_vm": "Azure Local VM (Arc machine) name",
        "key_vault": "key vault or Managed HSM name", "azure_local_resource": "Azure Local resource name", "storage_account": "storage account name",
        "provider_namespace": "resource provider namespace", "feature": "preview feature name",
        "azure_assigned": "name", "segment": "path segment", "subscription": "subscription id",
        "object_id": "object id", "region": "Azure region"}

ID_OK = "_or_id"  # a declared kind 'key_vault_or_id': a name of that kind, or a resource id (parsed by arm_ids)
UNSAFE_TEXT = "a '\\', '?', '#', '%' or control character"
# A resource id: '/' separates its segments, so only a segment that is empty, '.' or '..' or holds another unsafe
# character makes it name another resource than it reads.
_UNSAFE_ID = re.compile(r"//|/\.\.?(/|$)|[\\?#%\x00-\x1f\x7f]")
_UNSAFE = re.compile(r"[/\\?#%\x00-\x1f\x7f]")


def shown(value) -> str:
    """The value as it can be printed in one line: control characters escaped, cut at 60 characters."""
    text = str(value).encode("unicode_escape").decode("ascii")
    return text if len(text) <= 60 else text[:57] + "..."


def problem(kind: str, value) -> str | None:
    """Why `value` is not a valid `kind` name (a phrase), or None when it is one."""
    pattern, rule = RULES[kind]
    if not isinstance(value, str):
        return f"is not a string ({type(value).__name__})"
    if value in (".", "..") or _UNSAFE.search(value):
        return f"must be one path segment ({rule})"
    if not pattern.fullmatch(value):
        return f"must be {rule}"
    return None


def check(kind: str, value, option: str) -> str:
    """`value` when it is a valid `kind` name; else ValueError with one sentence naming the option."""
    why = problem(kind, value)
    if why:
        raise ValueError(f"{option} '{shown(value)}' is not a valid {WHAT[kind]}: it {why}.")
    return value


def check_params(params: dict, declared: dict) -> str | None:
    """The first problem of the declared options ({option: kind}) as one sentence, or None. A list option is checked
    item by item; options that are not set are skipped. A kind ending in '_or_id' also takes a resource id (arm_ids
    parses it); options that take a dict or an id (vault, vm, vms) are checked by arm_ids when it parses them."""
    for option, kind in declared.items():
        value = params.get(option)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            if kind.endswith(ID_OK) and isinstance(item, str) and item.startswith("/"):
                if _UNSAFE_ID.search(item):
                    return f"{option} '{shown(item)}' is not a valid resource id: it has an empty, '.' or '..' segment or {UNSAFE_TEXT}."
                continue
            try:
                check(kind[:-len(ID_OK)] if kind.endswith(ID_OK) else kind, item, option)
            except ValueError as exc:
                return str(exc)
    return None
