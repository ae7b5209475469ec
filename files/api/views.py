"""Files API: folders, files, versions, trash and direct uploads. Views stay thin: they
parse input, call one service or selector, and shape the output."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.mixins import TenantScopedMixin
from files import selectors
from files.api import serializers as s
from files.api.receiving import StreamingUploadMixin
from files.permissions import can_create
from files.search import get_search_backend
from files.search.cursor import offset_decode, offset_encode
from files.services import direct, files, folders, retrieval, trash
from files.services.idempotency import UploadOnce
from mediaportal.exceptions import Forbidden, ValidationFailed
from mediaportal.http import client_ip, query_flag
from mediaportal.openapi import DATE_OR_DATETIME, PAGE_PARAMETERS, paginated
from mediaportal.openapi import errors as _errors
from mediaportal.pagination import CursorPagination, paginate
from mediaportal.viewcounts import view_count

TAGS = ["files"]


def _file_out(file) -> dict:
    return s.FileOutput(file).data


ARCHIVED = OpenApiResponse(
    s.ArchivedOutput,
    description=(
        "`file_archived`: the bytes are in the archive tier; `retrieve` says how to bring them back "
        "(`POST …/retrieve/`). `file_retrieving`: they are on their way back; try again later."
    ),
)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # The pattern the service checks (files.services.idempotency.KEY_PATTERN), so clients see it.
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    description=(
        "Any unique string (a UUID) up to 255 visible ASCII characters. Sent again with the same request by the "
        "same user within a day (UPLOAD_IDEMPOTENCY_HOURS), the upload is not repeated: the answer is 200 with what the first one made. "
        "The same key with another request is 422 `idempotency_key_reused`."
    ),
)


def _created_or_replayed(once: UploadOnce | None) -> int:
    return status.HTTP_200_OK if once is not None and once.replayed else status.HTTP_201_CREATED


REPEATABLE_FILTERS = ("tag", "label")
NOT_FILTERS = ("q", "cursor", "ordering", "page_size", "facets")


def _filters(params) -> dict:
    """The list/search filters of a query string (tags and labels may repeat); as everywhere in
    the API, an empty value is the same as none."""
    filters = {key: params.get(key) for key in params if key not in (*REPEATABLE_FILTERS, *NOT_FILTERS)}
    filters.update({key: [value for value in params.getlist(key) if value] for key in REPEATABLE_FILTERS})
    return {key: value for key, value in filters.items() if value}


# --- Folders ----------------------------------------------------------------------


class FolderListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("parent", str, description="Folder id; the root when absent"), *PAGE_PARAMETERS],
        responses={200: paginated(s.FolderOutput), **_errors(401, 404)},
    )
    def get(self, request, tenant_slug):
        queryset = selectors.folder_list(membership=self.membership, parent_id=request.query_params.get("parent"))
        return paginate(self, request, queryset, s.FolderOutput, ordering="name")

    @extend_schema(
        tags=TAGS, request=s.FolderCreateInput, responses={201: s.FolderOutput, **_errors(400, 401, 403, 404, 409)}
    )
    def post(self, request, tenant_slug):
        data = s.FolderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        folder = folders.folder_create(
            membership=self.membership,
            name=data.validated_data["name"],
            parent_id=data.validated_data.get("parent"),
            ip=client_ip(request),
        )
        return Response(s.FolderOutput(folder).data, status=status.HTTP_201_CREATED)


class FolderDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: s.FolderOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, folder_id):
        return Response(s.FolderOutput(selectors.folder_get(membership=self.membership, folder_id=folder_id)).data)

    @extend_schema(
        tags=TAGS, request=s.FolderUpdateInput, responses={200: s.FolderOutput, **_errors(400, 401, 403, 404, 409)}
    )
    def patch(self, request, tenant_slug, folder_id):
        data = s.FolderUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        folder = folders.folder_update(
            membership=self.membership, folder_id=folder_id, data=data.validated_data, ip=client_ip(request)
        )
        return Response(s.FolderOutput(folder).data)

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("permanent", bool, description="Skip the trash")],
        responses={204: None, **_errors(401, 403, 404, 503)},
    )
    def delete(self, request, tenant_slug, folder_id):
        if query_flag(request.query_params, "permanent"):
            trash.folder_delete_permanently(membership=self.membership, folder_id=folder_id, ip=client_ip(request))
        else:
            trash.folder_trash(membership=self.membership, folder_id=folder_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FolderRetrieveView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.FolderRetrieveInput,
        responses={202: s.FolderRetrieveOutput, **_errors(400, 401, 404)},
        description=(
            "Bring back from the archive every file under the folder (its whole subtree) that the caller may see "
            "and whose bytes are archived; with `versions`, their older versions too. The files show "
            "`storage_tier` `retrieving` until they are back."
        ),
    )
    def post(self, request, tenant_slug, folder_id):
        data = s.FolderRetrieveInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = retrieval.folder_retrieve(
            membership=self.membership,
            folder_id=folder_id,
            versions=data.validated_data["versions"],
            ip=client_ip(request),
        )
        return Response(s.FolderRetrieveOutput({"retrieving": count}).data, status=status.HTTP_202_ACCEPTED)


# --- Files ------------------------------------------------------------------------

FILE_FILTERS = [
    OpenApiParameter("folder", str, description="Folder id, or `root`"),
    OpenApiParameter("subtree", bool, description="With `folder`: include its subfolders"),
    OpenApiParameter("type", str, enum=list(selectors.TYPE_GROUPS)),
    OpenApiParameter("content_type", str),
    OpenApiParameter("tag", str, many=True),
    OpenApiParameter("label", str, many=True, description="Automatic label, e.g. animal or person"),
    OpenApiParameter("status", str, enum=["pending", "processing", "completed", "failed"]),
    OpenApiParameter("uploaded_by", str, description="User id or username"),
    OpenApiParameter("created_after", DATE_OR_DATETIME, description="ISO 8601 date or date-time"),
    OpenApiParameter("created_before", DATE_OR_DATETIME, description="ISO 8601 date or date-time"),
    OpenApiParameter(
        "year",
        {"type": "string", "pattern": "^[1-9][0-9]{3}$"},
        description="The capture year when known, else the upload year (the `year` facet)",
    ),
    OpenApiParameter("size_min", int),
    OpenApiParameter("size_max", int),
    OpenApiParameter(
        "integrity",
        str,
        enum=["lost"],
        description=(
            "`lost`: only files whose current bytes have no intact copy left (flagged by the integrity scrub, "
            "`integrity_lost`); owners and admins only, 403 for others"
        ),
    ),
    OpenApiParameter("ordering", str, enum=["name", "-name", "created_at", "-created_at", "size", "-size"]),
]
ORDERINGS = {"name", "-name", "created_at", "-created_at", "size", "-size"}


class FileListView(StreamingUploadMixin, TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[*FILE_FILTERS, *PAGE_PARAMETERS],
        responses={200: paginated(s.FileOutput), **_errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        params = request.query_params
        filters = _filters(params)
        ordering = params.get("ordering") or "-created_at"
        if ordering not in ORDERINGS:
            raise ValidationFailed(f"ordering must be one of {', '.join(sorted(ORDERINGS))}.", code="invalid_filter")
        # The answer names each file's folder by id: no folder rows (~10 % of a page of 50).
        queryset = selectors.file_list(membership=self.membership, filters=filters, folders=False)
        # The id breaks ties so the cursor is exact even when many files share a name or size.
        tiebreak = "-id" if ordering.startswith("-") else "id"
        return paginate(self, request, queryset, s.FileOutput, ordering=(ordering, tiebreak))

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": s.FileUploadInput},
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.FileOutput,
            200: OpenApiResponse(s.FileOutput, description="A retry: the file its Idempotency-Key uploaded"),
            **_errors(400, 401, 403, 404, 409, 413, 415, 422, 503, 507),
        },
    )
    def post(self, request, tenant_slug):
        if not can_create(membership=self.membership):
            raise Forbidden("Viewers cannot upload files.")
        once = UploadOnce.from_header(request.headers.get("Idempotency-Key"))
        upload = self.received_file(request)
        data = s.FileUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        file = files.file_upload(
            membership=self.membership,
            upload=upload,
            folder_id=data.validated_data.get("folder"),
            description=data.validated_data.get("description", ""),
            tags=data.validated_data.get("tags"),
            on_conflict=data.validated_data["on_conflict"],
            ip=client_ip(request),
            once=once,
            relative_path=data.validated_data.get("relative_path", ""),
        )
        return Response(_file_out(file), status=_created_or_replayed(once))


class FileDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={200: s.FileOutput, **_errors(401, 404)})
    def get(self, request, tenant_slug, file_id):
        return Response(_file_out(selectors.file_get_for_actor(membership=self.membership, file_id=file_id)))

    @extend_schema(
        tags=TAGS, request=s.FileUpdateInput, responses={200: s.FileOutput, **_errors(400, 401, 403, 404, 409)}
    )
    def patch(self, request, tenant_slug, file_id):
        data = s.FileUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        files.file_update(membership=self.membership, file_id=file_id, data=data.validated_data, ip=client_ip(request))
        return Response(_file_out(selectors.file_get_for_actor(membership=self.membership, file_id=file_id)))

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("permanent", bool, description="Skip the trash")],
        responses={204: None, **_errors(401, 403, 404, 503)},
    )
    def delete(self, request, tenant_slug, file_id):
        if query_flag(request.query_params, "permanent"):
            trash.file_delete_permanently(membership=self.membership, file_id=file_id, ip=client_ip(request))
        else:
            trash.file_trash(membership=self.membership, file_id=file_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileDownloadView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "version",
                {"type": "integer", "minimum": 1},
                description="Download this version instead of the current one",
            ),
            OpenApiParameter("inline", bool, description="Show in the browser (raster images and PDF only)"),
        ],
        responses={
            302: OpenApiResponse(description="Redirect to a presigned URL valid ≤ 5 minutes"),
            409: ARCHIVED,
            **_errors(401, 404),
        },
    )
    def get(self, request, tenant_slug, file_id):
        version = request.query_params.get("version")
        if version and not version.isdigit():
            raise ValidationFailed("version must be a version number.", code="invalid")
        url = files.file_download_url(
            membership=self.membership,
            file_id=file_id,
            version=int(version) if version else None,
            inline=query_flag(request.query_params, "inline"),
            ip=client_ip(request),
        )
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


class FileRenditionView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("format", str, enum=["webp", "jpeg"], description="Default webp")],
        responses={
            302: OpenApiResponse(description="Redirect to the rendition (presigned, ≤ 5 minutes)"),
            **_errors(401, 404),
        },
    )
    def get(self, request, tenant_slug, file_id, kind):
        fmt = request.query_params.get("format") or "webp"
        if fmt not in ("webp", "jpeg"):
            raise ValidationFailed("format must be webp or jpeg.", code="invalid")
        url = files.rendition_url(membership=self.membership, file_id=file_id, kind=kind, fmt=fmt)
        view_count(tenant_id=self.membership.tenant_id, user_id=self.membership.user_id)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


class FileReprocessView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, request=None, responses={202: s.FileOutput, 409: ARCHIVED, **_errors(401, 403, 404)})
    def post(self, request, tenant_slug, file_id):
        files.file_reprocess(membership=self.membership, file_id=file_id, ip=client_ip(request))
        file = selectors.file_get_for_actor(membership=self.membership, file_id=file_id)
        return Response(_file_out(file), status=status.HTTP_202_ACCEPTED)


class FileRetrieveView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.FileRetrieveInput,
        responses={
            202: OpenApiResponse(
                s.FileOutput,
                description="On its way back: `storage_tier` is `retrieving`, or `hot` when the store restored it at once",
            ),
            200: OpenApiResponse(s.FileOutput, description="Its bytes are hot already: nothing to do"),
            **_errors(400, 401, 404, 503),
        },
        description=(
            "Bring an archived file's bytes (its current version's, or `version`'s) back to the hot tier; anyone "
            "who may download the file may. Downloads answer 409 `file_retrieving` until they are back "
            "(`storage_tier` `hot`): at once on a store without cold classes, hours for a Glacier restore. A file "
            "nobody touches is archived again by a later sweep."
        ),
    )
    def post(self, request, tenant_slug, file_id):
        data = s.FileRetrieveInput(data=request.data)
        data.is_valid(raise_exception=True)
        started = retrieval.file_retrieve(
            membership=self.membership,
            file_id=file_id,
            version=data.validated_data.get("version"),
            ip=client_ip(request),
        )
        file = selectors.file_get_for_actor(membership=self.membership, file_id=file_id)
        return Response(_file_out(file), status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK)


class FileVersionListView(StreamingUploadMixin, TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS, parameters=PAGE_PARAMETERS, responses={200: paginated(s.VersionOutput), **_errors(401, 404)}
    )
    def get(self, request, tenant_slug, file_id):
        file = selectors.file_get_for_actor(membership=self.membership, file_id=file_id)
        paginator = CursorPagination()
        paginator.ordering = "-number"
        page = paginator.paginate_queryset(selectors.version_list(file=file), request, view=self)
        data = s.VersionOutput(page, many=True, context={"current_version_id": file.current_version_id}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": s.VersionUploadInput},
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.VersionOutput,
            200: OpenApiResponse(s.VersionOutput, description="A retry: the version its Idempotency-Key uploaded"),
            **_errors(400, 401, 403, 404, 413, 415, 422, 503, 507),
        },
    )
    def post(self, request, tenant_slug, file_id):
        file = selectors.file_get_for_actor(membership=self.membership, file_id=file_id, perm="change")
        once = UploadOnce.from_header(request.headers.get("Idempotency-Key"))
        upload = self.received_file(request)
        data = s.VersionUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = files.file_version_upload(
            membership=self.membership,
            file_id=file_id,
            upload=upload,
            comment=data.validated_data.get("comment", ""),
            ip=client_ip(request),
            once=once,
        )
        current = file.current_version_id if once is not None and once.replayed else version.pk
        body = s.VersionOutput(version, context={"current_version_id": current}).data
        return Response(body, status=_created_or_replayed(once))


class FileVersionRestoreView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, request=None, responses={201: s.VersionOutput, 409: ARCHIVED, **_errors(401, 403, 404)})
    def post(self, request, tenant_slug, file_id, number):
        version = files.file_version_restore(
            membership=self.membership, file_id=file_id, number=number, ip=client_ip(request)
        )
        body = s.VersionOutput(version, context={"current_version_id": version.pk}).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- Trash ------------------------------------------------------------------------


class TrashListView(TenantScopedMixin, APIView):
    page_size = 50

    @extend_schema(
        tags=TAGS, parameters=[OpenApiParameter("cursor", str)], responses={200: s.TrashListOutput, **_errors(401, 404)}
    )
    def get(self, request, tenant_slug):
        after = trash.trash_cursor_parse(request.query_params.get("cursor"))
        entries = trash.trash_entries(membership=self.membership, limit=self.page_size + 1, after=after)
        page, more = entries[: self.page_size], len(entries) > self.page_size
        next_url = None
        if more:
            cursor = trash.trash_cursor(page[-1])
            next_url = request.build_absolute_uri(request.path) + "?" + _query(cursor=cursor)
        return Response({"results": s.TrashEntryOutput(page, many=True).data, "next": next_url, "previous": None})


def _query(**params) -> str:
    return urlencode(params)


def _restored_out(item) -> dict:
    kind = item._meta.model_name
    path = item.path if kind == "folder" else (item.folder.path if item.folder else "/") + item.name
    return {"id": item.pk, "kind": kind, "name": item.name, "path": path}


class TrashRestoreView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, request=None, responses={200: s.RestoredOutput, **_errors(401, 404)})
    def post(self, request, tenant_slug, item_id):
        item = trash.trash_restore(membership=self.membership, item_id=item_id, ip=client_ip(request))
        return Response(s.RestoredOutput(_restored_out(item)).data)


class TrashDetailView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, responses={204: None, **_errors(401, 404, 503)})
    def delete(self, request, tenant_slug, item_id):
        trash.trash_purge(membership=self.membership, item_id=item_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrashEmptyView(TenantScopedMixin, APIView):
    @extend_schema(tags=TAGS, request=None, responses={204: None, **_errors(401, 404, 503)})
    def post(self, request, tenant_slug):
        trash.trash_empty(membership=self.membership, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Direct uploads ---------------------------------------------------------------


class UploadListView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.UploadCreateInput,
        responses={201: s.UploadCreateOutput, **_errors(400, 401, 403, 404, 413)},
    )
    def post(self, request, tenant_slug):
        data = s.UploadCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        session, post = direct.upload_session_create(membership=self.membership, **data.validated_data)
        body = {"id": session.id, "url": post["url"], "fields": post["fields"], "expires_at": session.expires_at}
        return Response(s.UploadCreateOutput(body).data, status=status.HTTP_201_CREATED)


class UploadCompleteView(TenantScopedMixin, APIView):
    @extend_schema(
        tags=TAGS,
        request=s.UploadCompleteInput,
        responses={
            201: s.FileOutput,
            200: s.FileOutput,
            409: OpenApiResponse(s.UploadConflictOutput, description="Parts missing, changed, or the upload expired"),
            **_errors(400, 401, 403, 404, 413, 415, 503),
        },
        description=(
            "201 with the new file; 200 with the same file when the upload was completed before. "
            "A multipart upload's parts are joined first, as S3 lists them: 409 `parts_missing` (with `missing`, "
            "the part numbers still to send) while any is missing or incomplete, 409 `upload_changed` when a part "
            "was sent again meanwhile. 409 `upload_expired` after the session's expiry."
        ),
    )
    def post(self, request, tenant_slug, upload_id):
        data = s.UploadCompleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        file, created = direct.upload_session_complete(
            membership=self.membership,
            upload_id=upload_id,
            folder_id=data.validated_data.get("folder"),
            description=data.validated_data.get("description", ""),
            tags=data.validated_data.get("tags"),
            ip=client_ip(request),
        )
        return Response(_file_out(file), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# --- Search -----------------------------------------------------------------------


class SearchView(TenantScopedMixin, APIView):
    page_size = 20

    @extend_schema(
        tags=["search"],
        parameters=[
            OpenApiParameter("q", str, description='Words, "phrases", or, -exclude; the last word matches as a prefix'),
            *FILE_FILTERS[:-1],
            OpenApiParameter("taken_after", DATE_OR_DATETIME, description="ISO 8601 date or date-time"),
            OpenApiParameter("taken_before", DATE_OR_DATETIME, description="ISO 8601 date or date-time"),
            OpenApiParameter("cursor", str),
            OpenApiParameter(
                "facets", bool, description="false skips the counts (`facets` is then {}): faster while typing"
            ),
        ],
        responses={200: s.SearchOutput, **_errors(400, 401, 403, 404)},
    )
    def get(self, request, tenant_slug):
        params = request.query_params
        filters = _filters(params)
        offset = offset_decode(params.get("cursor"))
        page = get_search_backend().search(
            membership=self.membership,
            query=params.get("q", ""),
            filters=filters,
            offset=offset,
            limit=self.page_size,
            facets=query_flag(params, "facets", default=True),
        )
        next_url = None
        if page.has_more:
            query = params.copy()
            query["cursor"] = offset_encode(offset + self.page_size)
            next_url = request.build_absolute_uri(request.path) + "?" + query.urlencode()
        body = {
            "results": [
                {"file": hit.file, "rank": hit.rank, "highlight": hit.highlight, "matched_in": hit.matched_in}
                for hit in page.hits
            ],
            "facets": page.facets,
            "next": next_url,
            "suggestion": page.suggestion,
        }
        return Response(s.SearchOutput(body).data)
