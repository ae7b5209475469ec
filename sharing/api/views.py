from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from mediaportal.csvexport import EXPORT_PARAMETER, csv_response, wants_csv
from mediaportal.http import client_ip
from mediaportal.openapi import ERRORS, PAGE_PARAMETERS, json_or_csv, paginated
from mediaportal.pagination import paginate
from sharing import selectors
from sharing.api import serializers as s
from sharing.services import grants, groups, links

TAGS = ["sharing"]


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


class ShareListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS, parameters=PAGE_PARAMETERS, responses={200: paginated(s.ShareOutput), **_errors(401, 404)}
    )
    def get(self, request, tenant_slug):
        return paginate(self, request, selectors.share_list(membership=self.membership), s.ShareOutput)

    @extend_schema(
        tags=TAGS, request=s.SHARE_INPUT, responses={201: s.ShareCreatedOutput, **_errors(400, 401, 403, 404)}
    )
    def post(self, request, tenant_slug):
        data = s.ShareInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        link, token = links.share_create(
            membership=self.membership,
            file_id=values.get("file"),
            folder_id=values.get("folder"),
            expires_at=values.get("expires_at"),
            password=values.get("password", ""),
            max_downloads=values.get("max_downloads"),
            allow_upload=values.get("allow_upload", False),
            notify_on_first_open=values.get("notify_on_first_open", False),
            ip=client_ip(request),
        )
        link.token = token
        body = s.ShareCreatedOutput(link, context={"url": links.share_url(token)}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ShareDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: s.ShareOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, share_id):
        return Response(s.ShareOutput(selectors.share_get(membership=self.membership, share_id=share_id)).data)

    @extend_schema(tags=TAGS, request=s.ShareUpdateInput, responses={200: s.ShareOutput, **_errors(400, 401, 404)})
    def patch(self, request, tenant_slug, share_id):
        data = s.ShareUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        link = links.share_update(
            membership=self.membership, share_id=share_id, data=data.validated_data, ip=client_ip(request)
        )
        return Response(s.ShareOutput(link).data)

    @extend_schema(tags=TAGS, responses={204: None, **_errors(401, 404)})
    def delete(self, request, tenant_slug, share_id):
        links.share_revoke(membership=self.membership, share_id=share_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# One row per day and network (CSV: a spreadsheet's shape of the receipts).
RECEIPT_CSV_COLUMNS = ["day", "network", "opens", "unlocks", "downloads", "wrong_passwords", "throttled", "last_seen"]


class ShareReceiptsView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        summary="What the link's visitors did: opens, unlocks, downloads, by day and network",
        parameters=[EXPORT_PARAMETER],
        responses={
            **json_or_csv(s.ReceiptsOutput, ", ".join(RECEIPT_CSV_COLUMNS)),
            **_errors(400, 401, 404),
        },
    )
    def get(self, request, tenant_slug, share_id):
        if wants_csv(request):
            rows = selectors.share_receipt_rows(membership=self.membership, link=share_id)
            name = f"share-{str(share_id)[:8]}-receipts"
            return csv_response(name=name, tenant_slug=None, columns=RECEIPT_CSV_COLUMNS, rows=rows)
        receipts = selectors.share_receipts(membership=self.membership, link=share_id)
        return Response(s.ReceiptsOutput(receipts).data)


class GrantListView(TenantScopedMixin, APIView):
    kind = "file"

    @extend_schema(tags=TAGS, responses={200: paginated(s.GrantOutput), **_errors(401, 403, 404)})
    def get(self, request, tenant_slug, object_id):
        target = grants.grant_target(membership=self.membership, kind=self.kind, object_id=object_id)
        return Response(
            {
                "results": s.GrantOutput(selectors.grant_list(target=target), many=True).data,
                "next": None,
                "previous": None,
            }
        )

    @extend_schema(tags=TAGS, request=s.GRANT_INPUT, responses={201: s.GrantOutput, **_errors(400, 401, 403, 404)})
    def post(self, request, tenant_slug, object_id):
        # The object first: an invisible one is a 404 whatever the body says.
        target = grants.grant_target(membership=self.membership, kind=self.kind, object_id=object_id)
        data = s.GrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        grant = grants.grant_set(
            membership=self.membership,
            target=target,
            permissions=data.validated_data["permissions"],
            user_id=data.validated_data.get("user"),
            group_id=data.validated_data.get("group"),
            ip=client_ip(request),
        )
        return Response(s.GrantOutput(grant).data, status=status.HTTP_201_CREATED)


class GrantDetailView(TenantScopedMixin, APIView):
    kind = "file"

    @extend_schema(tags=TAGS, responses={204: None, **_errors(401, 403, 404)})
    def delete(self, request, tenant_slug, object_id, grant_id):
        target = grants.grant_target(membership=self.membership, kind=self.kind, object_id=object_id)
        grants.grant_revoke(membership=self.membership, target=target, grant_id=grant_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS, parameters=PAGE_PARAMETERS, responses={200: paginated(s.GroupOutput), **_errors(401, 404)}
    )
    def get(self, request, tenant_slug):
        return paginate(
            self, request, selectors.group_list(membership=self.membership), s.GroupOutput, ordering="created_at"
        )

    @extend_schema(tags=TAGS, request=s.GroupInput, responses={201: s.GroupOutput, **_errors(400, 401, 403, 404, 409)})
    def post(self, request, tenant_slug):
        data = s.GroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = groups.group_create(
            membership=self.membership,
            name=data.validated_data.get("name", ""),
            member_ids=data.validated_data.get("members"),
            ip=client_ip(request),
        )
        return Response(s.GroupOutput(group).data, status=status.HTTP_201_CREATED)


class GroupDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: s.GroupOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, group_id):
        return Response(s.GroupOutput(selectors.group_get(membership=self.membership, group_id=group_id)).data)

    @extend_schema(tags=TAGS, request=s.GroupInput, responses={200: s.GroupOutput, **_errors(400, 401, 403, 404, 409)})
    def patch(self, request, tenant_slug, group_id):
        data = s.GroupInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        group = groups.group_update(
            membership=self.membership, group_id=group_id, data=data.validated_data, ip=client_ip(request)
        )
        return Response(s.GroupOutput(group).data)

    @extend_schema(tags=TAGS, responses={204: None, **_errors(401, 403, 404)})
    def delete(self, request, tenant_slug, group_id):
        groups.group_delete(membership=self.membership, group_id=group_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
