"""Single sign-on: which account a first sign-in joins, new accounts, and group → role mapping.

django-allauth runs the protocol (accounts.adapters hands its results over); what the product
decides is here. An identity provider is trusted with an address only when it says it verified
it, and an existing account is joined only when its own address is verified too: otherwise
whoever registered an address first (or controls an identity provider account claiming it)
would get the other person's account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from requests import RequestException

from accounts.models import ROLE_RANK, Membership, Role, Tenant, User
from accounts.services.audit import event_record
from accounts.services.tenants import (
    member_add_system,
    member_change_role_system,
    member_remove_system,
    tenant_create,
)
from mediaportal.exceptions import ApplicationError, Conflict

log = logging.getLogger(__name__)

VIA = {"via": "sso"}


class LinkRefused(ApplicationError):
    """A first sign-in whose address belongs to an account we may not join to it."""

    status_code = 409
    default_code = "sso_link_refused"
    default_detail = (
        "An account with this e-mail address exists. Sign in with your password, verify your "
        "address, then connect this sign-in from “Connected accounts”."
    )


# --- Which account a first sign-in joins --------------------------------------------


def link_target(*, addresses: list[tuple[str, bool]]) -> tuple[User, str] | None:
    """The existing account a first sign-in with these (address, verified by the provider)
    pairs joins, with the address that matched; None when no account has any of them.

    Raises LinkRefused when an account has one of them but the provider did not verify it
    or the account's own record of it is not verified.
    """
    for email, provider_verified in addresses:
        email = email.strip()
        if not email:
            continue
        records = list(EmailAddress.objects.filter(email__iexact=email).select_related("user"))
        verified = [record for record in records if record.verified]
        if verified and provider_verified:
            return verified[0].user, verified[0].email
        if records or User.objects.filter(email__iexact=email).exists():
            raise LinkRefused()
    return None


# --- Group claim → tenant roles -------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    group: str
    tenant_slug: str
    role: str


@lru_cache(maxsize=4)
def group_roles_parse(raw: str) -> tuple[Grant, ...]:
    """Parse OIDC_GROUP_ROLES, "group=team-slug:role,other=team-slug:viewer".

    Raises ImproperlyConfigured for an entry that does not read so or names an unknown role:
    a mapping applied halfway would hand out or take away rights nobody meant to.
    """
    grants = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        group, _, target = entry.rpartition("=")
        slug, _, role = target.partition(":")
        group, slug, role = group.strip(), slug.strip().lower(), role.strip().lower()
        if not (group and slug and role):
            raise ImproperlyConfigured(f"OIDC_GROUP_ROLES: {entry!r} does not read group=team-slug:role.")
        if role not in Role.values:
            raise ImproperlyConfigured(
                f"OIDC_GROUP_ROLES: {entry!r} names the role {role!r}; roles are {', '.join(Role.values)}."
            )
        grants.append(Grant(group=group, tenant_slug=slug, role=role))
    return tuple(grants)


def group_roles() -> tuple[Grant, ...]:
    return group_roles_parse(settings.OIDC_GROUP_ROLES)


def groups_from_claims(claims: dict) -> list[str]:
    """The groups the provider says the user is in. A missing claim is no groups: access
    follows the provider, so a user taken out of every group loses what the groups gave."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(group) for group in value]
    return []


def desired_roles(*, groups: list[str]) -> dict[Tenant, str]:
    """{tenant: the highest role any of the user's groups gives in it}."""
    wanted: dict[str, str] = {}
    member_of = set(groups)
    for grant in group_roles():
        if grant.group in member_of and ROLE_RANK[Role(grant.role)] > ROLE_RANK.get(wanted.get(grant.tenant_slug), 0):
            wanted[grant.tenant_slug] = grant.role
    tenants = {tenant.slug: tenant for tenant in Tenant.objects.filter(slug__in=wanted)}
    for slug in sorted(set(wanted) - set(tenants)):
        log.warning("OIDC_GROUP_ROLES names the team %r, which does not exist; skipped.", slug)
    return {tenants[slug]: role for slug, role in wanted.items() if slug in tenants}


@transaction.atomic
def memberships_sync(*, user: User, groups: list[str], ip: str | None = None) -> list[Membership]:
    """Make the user's single sign-on memberships what their groups say now.

    Missing ones are created (`sso_managed`), managed ones get the role the groups give or go
    when no group gives one. Memberships given by hand are never touched, and a tenant's last
    owner is kept (logged and recorded as an event) rather than demoted or removed.
    With no mapping configured nothing changes. Returns the user's managed memberships.
    """
    if not group_roles():
        return list(Membership.objects.filter(user=user, sso_managed=True))
    desired = desired_roles(groups=groups)
    # Locking the user's rows serialises two sign-ins of the same person.
    current = {
        m.tenant_id: m for m in Membership.objects.select_for_update().filter(user=user).select_related("tenant")
    }
    for tenant, role in desired.items():
        membership = current.get(tenant.pk)
        if membership is None:
            member_add_system(tenant=tenant, user=user, role=role, sso_managed=True, ip=ip, data=VIA)
        elif membership.sso_managed and membership.role != role:
            change = partial(member_change_role_system, member=membership, role=role, ip=ip, data=VIA)
            _keep_last_owner(membership, ip, change)
    wanted_ids = {tenant.pk for tenant in desired}
    for membership in current.values():
        if membership.sso_managed and membership.tenant_id not in wanted_ids:
            _keep_last_owner(membership, ip, partial(member_remove_system, member=membership, ip=ip, data=VIA))
    return list(Membership.objects.filter(user=user, sso_managed=True).select_related("tenant"))


def _keep_last_owner(membership: Membership, ip: str | None, change: Callable[[], object]) -> None:
    try:
        with transaction.atomic():
            change()
    except Conflict as exc:
        if exc.code != "last_owner":
            raise
        log.warning(
            "Single sign-on kept %s as the last owner of %s although their groups no longer say so.",
            membership.user.username,
            membership.tenant.slug,
        )
        event_record(
            verb="member.sso_kept",
            tenant=membership.tenant,
            target=membership.user,
            ip=ip,
            data={**VIA, "reason": "last_owner", "role": membership.role},
        )


# --- Signing in -------------------------------------------------------------------------


def signed_in(*, user: User, claims: dict, ip: str | None = None) -> None:
    """An existing account signed in through the OpenID Connect provider: re-apply its groups."""
    if user.is_active:
        memberships_sync(user=user, groups=groups_from_claims(claims), ip=ip)


@transaction.atomic
def user_set_up(*, user: User, claims: dict | None, ip: str | None = None) -> Tenant | None:
    """A new account made by a first single sign-on: its memberships from the groups (OpenID
    Connect only, `claims` None otherwise) and, when those gave it no team, a personal one
    as registration makes. Returns that personal team, or None."""
    managed = memberships_sync(user=user, groups=groups_from_claims(claims), ip=ip) if claims is not None else []
    tenant = None
    if not managed:
        tenant = tenant_create(actor=user, name=f"{user.username}'s team", ip=ip)
    event_record(verb="user.registered", tenant=tenant, actor=user, target=user, ip=ip, data=VIA)
    return tenant


def claims_of(extra_data: dict) -> dict:
    """An OpenID Connect account's claims: the ID token's, overridden by the userinfo's."""
    return {**(extra_data.get("id_token") or {}), **(extra_data.get("userinfo") or {})}


# --- Checking the configuration (manage.py sso_check) --------------------------------------


@dataclass
class ProviderReport:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def oidc_check(*, app: dict, session, form_action: list[str]) -> ProviderReport:
    """Fetch an OpenID Connect provider's discovery document and check what the login needs:
    the endpoints, the address the browser is sent to (the CSP's form-action must allow it)
    and the group mapping's teams."""
    url = app["settings"]["server_url"]
    report = ProviderReport(name=app.get("name", "OpenID Connect"), ok=True)
    if not app.get("client_id"):
        report.problems.append("OIDC_CLIENT_ID is empty.")
    try:
        response = session.get(f"{url}/.well-known/openid-configuration")
        response.raise_for_status()
        config = response.json()
    except (RequestException, ValueError) as exc:
        report.problems.append(f"{url}/.well-known/openid-configuration does not answer: {exc}")
        report.ok = False
        return report
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not config.get(key):
            report.problems.append(f"The discovery document has no {key}.")
    if config.get("issuer") and config["issuer"].rstrip("/") != url.rstrip("/"):
        report.problems.append(f"The issuer is {config['issuer']}, not OIDC_SERVER_URL ({url}).")
    authorize = config.get("authorization_endpoint") or ""
    if authorize and _origin(authorize) not in form_action:
        report.problems.append(
            f"Browsers are sent to {_origin(authorize)}, which the CSP's form-action does not allow: "
            "add it to SSO_EXTRA_ORIGINS."
        )
    report.notes.append(f"issuer {config.get('issuer')}, sign-in at {authorize}")
    slugs = {grant.tenant_slug for grant in group_roles()}
    existing = set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    for slug in sorted(slugs - existing):
        report.problems.append(f"OIDC_GROUP_ROLES names the team {slug!r}, which does not exist.")
    if group_roles():
        report.notes.append(f"groups from the {settings.OIDC_GROUPS_CLAIM!r} claim map to {len(group_roles())} roles")
    report.ok = not report.problems
    return report
