"""The api-versions each API family publishes (api_versions.yml, with the spec folder each came from), and the check
`framework.Router.dispatch` makes before a handler runs."""

from __future__ import annotations

import functools
import os

import yaml

from .framework import SimError

HERE = os.path.dirname(__file__)


@functools.lru_cache(maxsize=1)
def families() -> dict:
    with open(os.path.join(HERE, "api_versions.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["families"]


def supported(family: str) -> list[str]:
    """Newest first, as ARM lists them (api_versions.yml lists each family oldest first; 7.x sorts by its place)."""
    return list(reversed(list(families()[family].get("versions") or {})))


def check(req, family: str):
    """Refuse an api-version the family does not publish, with the refusal its service sends."""
    kind = families()[family]["kind"]
    if kind == "none":
        return
    version = req.q("api-version")
    versions = supported(family)
    if kind == "arm":
        if not version:
            raise SimError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if version not in versions:
            raise SimError(400, "InvalidApiVersionParameter",
                           f"The api-version '{version}' is invalid. The supported versions are '{','.join(versions)}'.")
    elif kind == "keyvault" and not version:
        raise SimError(400, "BadParameter", "The api-version parameter is missing.")  # UNVERIFIED wording
    elif kind == "keyvault" and version not in versions:
        # Key Vault names the newest version only (Azure/azure-sdk-for-python#28595)
        raise SimError(400, "BadParameter", f"The specified version ({version}) is not recognized. "
                                            f"Consider using the latest supported version ({versions[0]}).")


def provider_resource_types(namespace: str) -> list[tuple[str, list[str]]]:
    """(resourceType, apiVersions) for GET /providers/{namespace}, from every ARM family of that namespace."""
    out = []
    for name, fam in families().items():
        if fam.get("kind") == "arm" and fam["namespace"].lower() == namespace.lower():
            out.extend((rtype, supported(name)) for rtype in fam["resource_types"])
    return out
