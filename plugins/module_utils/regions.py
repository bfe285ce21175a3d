# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The regions a module's options name, checked against the subscription's own list once per run (issue 17 item 4).

Subscriptions - List Locations, GET /subscriptions/{id}/locations?api-version=2022-12-01 (spec
Microsoft.Resources/subscriptions/stable/2022-12-01/subscriptions.json, operation Subscriptions_ListLocations, pageable
through nextLink; example GetLocations.json). azure-mgmt-resource 26 has no subscriptions client (it moved to
azure-mgmt-resource-subscriptions, not in requirements.txt), so the call is a raw ARM GET (base.AzureCvmModule.arm_list).

Only entries of type Region count (the list has EdgeZone entries only with includeExtendedLocations, never sent here).
When the list is refused (403: the caller may not read it) or unavailable (404, 5xx after the retries), the region is
checked against names.AZURE_REGIONS instead, with a warning: that list is incomplete, so there a real but newer region
is refused with a sentence that says the subscription's list could not be read (the safe side: no write to a region
nobody confirmed). Any other error fails the module like every read.
"""

from __future__ import annotations

from ansible_collections.azure_cvm.backup.plugins.module_utils.arm_ids import segment
from ansible_collections.azure_cvm.backup.plugins.module_utils.errors import ModuleFailure
from ansible_collections.azure_cvm.backup.plugins.module_utils.names import AZURE_REGIONS, region_refusal

LOCATIONS_API = "2022-12-01"
FALLBACK_STATUS = (403, 404, 500, 502, 503, 504)


def subscription_regions(m) -> list | None:
    """(name, displayName) of every region the subscription lists, or None when the list is refused or unavailable."""
    try:
        items = m.arm_list(f"/subscriptions/{segment(m.subscription_id)}/locations", LOCATIONS_API)
    except Exception as exc:  # pylint: disable=broad-except  # azure-core errors, duck-typed
        if getattr(exc, "status_code", None) in FALLBACK_STATUS:
            return None
        m.azure_failure(exc, "list the regions of the subscription", m.subscription_id)
    return [(i.get("name"), i.get("displayName")) for i in items if str(i.get("type") or "Region").lower() == "region"]


def check_regions(m, options: list):
    """Refuse (ModuleFailure, one sentence) the first option in `options` whose region the subscription does not list;
    one list call for all of them, none when no such option is set."""
    given = [(o, m.params[o]) for o in options if m.params.get(o)]
    if not given:
        return
    listed = subscription_regions(m)
    where = f"of subscription {m.subscription_id}"
    if listed is None:
        m.warn(f"Could not read the regions of subscription {m.subscription_id} (Subscriptions - List Locations): "
               "the region was checked against the collection's built-in list, which may lack the newest regions.")
        listed = [(name, None) for name in AZURE_REGIONS]
        where = "of the collection's built-in list (the subscription's own list could not be read)"
    for option, value in given:
        why = region_refusal(option, value, listed, where)
        if why:
            raise ModuleFailure(why)
