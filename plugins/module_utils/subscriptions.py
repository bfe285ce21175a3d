# -*- coding: utf-8 -*-
# Copyright: azure_cvm.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The subscriptions a credential can see (Subscriptions - List), for the inventory plugin and subscription_info: a
paged raw ARM list (m.arm_list; no SDK in the requirements has Microsoft.Resources/subscriptions)."""

from __future__ import annotations

# Subscriptions List (GET /subscriptions): spec Microsoft.Resources/subscriptions stable/2022-12-01 subscriptions.json,
# example GetSubscriptions.json; `state` is the SubscriptionState enum (Enabled, Warned, PastDue, Disabled, Deleted).
SUBSCRIPTIONS_API = "2022-12-01"
UNUSABLE_SUBSCRIPTION_STATES = ("disabled", "deleted")


def visible(m) -> list:
    """Every subscription the credential can see, as {subscription_id, display_name, state, tenant_id, usable};
    usable is false for a Disabled or Deleted one (no resource can be read or written there)."""
    return [{"subscription_id": s.get("subscriptionId"), "display_name": s.get("displayName"), "state": s.get("state"),
             "tenant_id": s.get("tenantId"), "usable": str(s.get("state", "")).lower() not in UNUSABLE_SUBSCRIPTION_STATES}
            for s in m.read_all(lambda: m.arm_list("/subscriptions", SUBSCRIPTIONS_API), "the subscriptions the credential can see")]
