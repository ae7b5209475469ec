"""Quota and budget alerts: raised once per crossing of a threshold, cleared when the ratio
drops back below it.

Quota: bytes used (files.services.quota, live) / `quota_bytes`, at 80 % and 95 %. Budget: the
estimated monthly cost (analytics.services.cost, from the latest storage snapshot) /
`monthly_budget`, at 80 % and 100 %. A tenant with no quota (0) or no budget (null or 0) has
no ratio, and its open alerts of that kind are cleared. Raising one writes the alert and an
audit event, and after commit mails the tenant's owners and publishes `quota.warning` or
`budget.warning` (webhooks). The check runs every five minutes (task analytics.check_alerts).
"""

from __future__ import annotations

import logging
from functools import partial

from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role, Tenant
from accounts.services.audit import event_record
from analytics.models import Alert, AlertKind
from analytics.selectors.alerts import banner_cache_key
from analytics.services.cost import tenant_cost
from files.services.quota import tenant_usage_bytes
from mediaportal.events import event_publish
from mediaportal.http import site_url

log = logging.getLogger(__name__)

THRESHOLDS = {AlertKind.QUOTA.value: (0.80, 0.95), AlertKind.BUDGET.value: (0.80, 1.00)}


def quota_measure(*, tenant: Tenant) -> tuple[float | None, dict]:
    """The quota ratio and the figures behind it."""
    used, quota = tenant_usage_bytes(tenant=tenant), tenant.quota_bytes
    return (used / quota if quota > 0 else None), {"used_bytes": used, "quota_bytes": quota}


def budget_measure(*, tenant: Tenant) -> tuple[float | None, dict]:
    """The budget ratio (unrounded, so 79.996 % is not taken for 80 %) and its figures."""
    cost = tenant_cost(tenant=tenant)
    budget = cost.monthly_budget
    data = {
        "currency": cost.currency,
        "estimated_monthly_cost": float(cost.estimated_monthly_cost),
        "monthly_budget": float(budget) if budget is not None else None,
    }
    return (float(cost.estimated_monthly_cost / budget) if budget else None), data


@transaction.atomic
def alerts_check(*, tenant: Tenant) -> list[Alert]:
    """Raise the alerts whose threshold the tenant is at or above and that are not open yet,
    clear the open ones it dropped below; returns the alerts raised."""
    # The tenant's row lock serialises two checks of one tenant (a slow beat tick overlapping
    # the next): the second sees the first's alerts and raises nothing again.
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    measured = {"quota": quota_measure(tenant=tenant), "budget": budget_measure(tenant=tenant)}
    open_alerts = {(a.kind, a.threshold): a for a in Alert.objects.filter(tenant=tenant, cleared_at__isnull=True)}
    raised = []
    for kind, thresholds in THRESHOLDS.items():
        ratio, data = measured[kind]
        for threshold in thresholds:
            alert = open_alerts.get((kind, threshold))
            above = ratio is not None and ratio >= threshold
            if above and alert is None:
                raised.append(_raise(tenant=tenant, kind=kind, threshold=threshold, ratio=ratio, data=data))
            elif not above and alert is not None:
                _clear(alert=alert, ratio=ratio)
    return raised


def alerts_check_all() -> int:
    """Check every tenant; one that fails is logged and the others still checked. Returns how
    many alerts were raised."""
    raised = 0
    for tenant in Tenant.objects.order_by("pk").iterator():
        try:
            raised += len(alerts_check(tenant=tenant))
        except Exception:
            log.exception("checking the alerts of tenant %s failed", tenant.slug)
    return raised


def _raise(*, tenant: Tenant, kind: str, threshold: float, ratio: float, data: dict) -> Alert:
    alert = Alert.objects.create(tenant=tenant, kind=kind, threshold=threshold, value=round(ratio, 4), data=data)
    summary = {"kind": kind, "threshold": threshold, "value": alert.value, **data}
    event_record(verb="alert.raised", tenant=tenant, target=alert, data=summary)
    event_publish(tenant_id=tenant.pk, event=f"{kind}.warning", data=alert_payload(alert))
    transaction.on_commit(partial(_mail_owners, alert_id=alert.pk))
    transaction.on_commit(partial(_banner_forget, tenant_id=tenant.pk))
    return alert


def _clear(*, alert: Alert, ratio: float | None) -> None:
    alert.cleared_at = timezone.now()
    alert.save(update_fields=["cleared_at"])
    transaction.on_commit(partial(_banner_forget, tenant_id=alert.tenant_id))
    value = round(ratio, 4) if ratio is not None else None
    event_record(
        verb="alert.cleared",
        tenant=alert.tenant,
        target=alert,
        data={"kind": alert.kind, "threshold": alert.threshold, "value": value},
    )


def _banner_forget(*, tenant_id) -> None:
    try:
        cache.delete(banner_cache_key(tenant_id))
    except Exception:  # noqa: BLE001 - the entry expires on its own (BANNER_CACHE_SECONDS)
        log.warning("could not drop the alert banner of tenant %s from the cache", tenant_id, exc_info=True)


def alert_payload(alert: Alert) -> dict:
    """What a webhook delivery of the alert carries: the alert's API shape and its figures."""
    return {
        "id": str(alert.pk),
        "kind": alert.kind,
        "threshold": alert.threshold,
        "value": alert.value,
        "raised_at": alert.raised_at.isoformat(),
        **alert.data,
    }


# --- Mail ---------------------------------------------------------------------------------


def alert_message(alert: Alert, *, tenant: Tenant) -> tuple[str, str]:
    """Subject and plain-text body of the mail to the owners."""
    data, pct, level = alert.data, alert.value_percent, alert.threshold_percent
    link = site_url(reverse("portal-settings", kwargs={"tenant_slug": tenant.slug}))
    if alert.kind == AlertKind.QUOTA:
        subject = f"{tenant.name}: {pct} % of the storage quota used"
        what = (
            f"The team {tenant.name} uses {pct} % of its storage quota "
            f"({filesizeformat(data['used_bytes'])} of {filesizeformat(data['quota_bytes'])}), "
            f"past the {level} % warning level."
        )
        todo = (
            "When the quota is full, uploads are refused. To make room, empty the trash and delete "
            "files the team no longer needs; for a larger quota, ask the platform's administrators."
        )
    else:
        currency = data["currency"]
        subject = f"{tenant.name}: storage cost at {pct} % of the monthly budget"
        what = (
            f"The estimated monthly storage cost of the team {tenant.name} is {currency} "
            f"{data['estimated_monthly_cost']:.2f}, {pct} % of its monthly budget of {currency} "
            f"{data['monthly_budget']:.2f} (warning level {level} %)."
        )
        todo = (
            "To spend less, delete files the team no longer needs and let rarely used ones move to the "
            "archive tier, which costs less; or raise the monthly budget in the team settings."
        )
    body = (
        f"{what}\n\n{todo}\n\nTeam settings: {link}\n\n"
        "You receive this as an owner of the team. It is sent once each time the level is crossed.\n"
    )
    return subject, body


def _mail_owners(*, alert_id) -> None:
    """One message per owner (owners do not see each other's addresses); a mail server that
    fails is logged: the alert stays raised, and listed and shown in the portal."""
    alert = Alert.objects.select_related("tenant").get(pk=alert_id)
    owners = Membership.objects.filter(tenant_id=alert.tenant_id, role=Role.OWNER, user__is_active=True)
    addresses = sorted({m.user.email for m in owners.select_related("user") if m.user.email})
    if not addresses:
        return
    subject, body = alert_message(alert, tenant=alert.tenant)
    messages = [mail.EmailMessage(subject, body, to=[address]) for address in addresses]
    try:
        with mail.get_connection() as connection:
            connection.send_messages(messages)
    except Exception:
        log.exception("mailing alert %s to the owners of %s failed", alert.pk, alert.tenant.slug)
