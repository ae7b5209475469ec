from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from files.models import File
from files.services.processing_run import file_process
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import CORPUS, client_for

pytestmark = pytest.mark.django_db

DOCUMENTS = [
    ("document_pdf/crazyones.pdf", "the crazy ones"),
    ("document_pdf/google-doc-document.pdf", "Beautiful is better than ugly"),
    ("document_office/sample.odt", "This is an ODT test document"),
    ("document_office/sample.doc", "saved in the older .doc format"),
    ("text/cp1251_russian.txt", "Альберта Эйнштейна"),
    ("text/latin1_portuguese.txt", "Radiações da Noite"),
    ("text/countries.csv", "Liechtenstein"),
]


def every_page(client, url: str) -> list[str]:
    """The file ids of all result pages, following `next` from `url`."""
    seen = []
    while url:
        body = client.get(url).json()
        seen += [h["file"]["id"] for h in body["results"]]
        url = body["next"]
    return seen


def find(client, tenant, **params):
    response = client.get(f"/api/v1/tenants/{tenant.slug}/search/", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def library(editor, tenant):
    ids = {}
    for path, _phrase in DOCUMENTS:
        file_id = upload(editor, tenant, path.split("/")[-1], (CORPUS / path).read_bytes()).json()["id"]
        assert file_process(file_id=file_id) == "completed"
        ids[path] = file_id
    photo = upload(
        editor, tenant, "agama.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes(), tags=["safari"]
    )
    file_process(file_id=photo.json()["id"])
    ids["photo"] = photo.json()["id"]
    return ids


@pytest.mark.parametrize(("path", "phrase"), DOCUMENTS)
def test_each_phrase_finds_its_document_first(editor, tenant, library, path, phrase):
    body = find(editor, tenant, q=phrase)
    assert body["results"], phrase
    assert body["results"][0]["file"]["id"] == library[path]
    assert "<mark>" in body["results"][0]["highlight"]
    assert set(body) == {"results", "facets", "next", "suggestion"}


def test_shape_prefix_phrase_exclude_and_or(editor, tenant, library):
    assert find(editor, tenant, q="Liechtenst")["results"][0]["file"]["id"] == library["text/countries.csv"]
    # Three letters are not expanded as a prefix: anything found comes from the "did you mean" fallback.
    short = find(editor, tenant, q="cra")
    assert short["results"] == [] or short["suggestion"]
    hits = find(editor, tenant, q='"crazy ones"')["results"]
    assert [h["file"]["id"] for h in hits] == [library["document_pdf/crazyones.pdf"]]
    # Both words are in the poem, never next to each other.
    assert find(editor, tenant, q='"crazy troublemakers"')["results"] == []
    without = find(editor, tenant, q="crazy -rebels")["results"]
    assert library["document_pdf/crazyones.pdf"] not in [h["file"]["id"] for h in without]
    either = {h["file"]["id"] for h in find(editor, tenant, q="Liechtenstein or Eindhoven or crazy")["results"]}
    assert {library["text/countries.csv"], library["document_pdf/crazyones.pdf"]} <= either


def test_names_tags_and_labels_are_searchable(editor, tenant, library):
    assert find(editor, tenant, q="agama")["results"][0]["file"]["id"] == library["photo"]
    assert find(editor, tenant, q="safari")["results"][0]["file"]["id"] == library["photo"]
    assert find(editor, tenant, q="animal")["results"][0]["file"]["id"] == library["photo"]
    assert find(editor, tenant, q="eastman kodak")["results"][0]["file"]["id"] == library["photo"]


def test_typo_in_a_name_gives_a_suggestion(editor, tenant, library):
    body = find(editor, tenant, q="contries")  # one letter missing from the name "countries.csv"
    assert body["suggestion"] == "countries"
    assert body["results"][0]["file"]["id"] == library["text/countries.csv"]


def test_filters_and_facets(editor, tenant, library):
    docs = find(editor, tenant, type="document")
    assert {h["file"]["content_type"] for h in docs["results"]} <= {
        "application/pdf",
        "application/vnd.oasis.opendocument.text",
        "application/msword",
    }
    assert len(docs["results"]) == 4
    everything = find(editor, tenant)
    assert everything["facets"]["type"] == {"document": 4, "text": 3, "image": 1}
    assert everything["facets"]["tag"] == {"safari": 1}
    assert everything["facets"]["label"]["document"] == 7 and everything["facets"]["label"]["animal"] == 1
    assert everything["facets"]["year"]["2005"] == 1  # the photo's capture year, not its upload year
    assert sum(everything["facets"]["year"].values()) == 8
    narrowed = find(editor, tenant, q="crazy", type="document")
    assert narrowed["facets"]["type"] == {"document": 1}
    assert find(editor, tenant, q="crazy", type="image")["results"] == []
    assert len(find(editor, tenant, taken_after="2005-01-01", taken_before="2006-01-01")["results"]) == 1
    assert find(editor, tenant, label="animal")["results"][0]["file"]["id"] == library["photo"]
    assert find(editor, tenant, tag="safari", q="agama")["results"][0]["file"]["id"] == library["photo"]


def test_a_long_content_type_stays_in_the_row_the_facets_read(editor, tenant):
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    file = File.objects.create(
        tenant=tenant, owner=editor.user, name="minutes.docx", content_type=docx, content_text="agenda " * 500
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(content_type), pg_column_toast_chunk_id(search_vector) "
            "FROM files_file WHERE id = %s",
            [file.pk],
        )
        type_chunk, vector_chunk = cursor.fetchone()
    assert vector_chunk is not None  # the row is one that TOAST narrows...
    assert type_chunk is None  # ... and the content type is kept in it


def test_a_files_words_go_into_the_search_index_at_once_not_to_a_pending_list(editor, tenant, library):
    # Every search scans GIN's pending list whole; with a pending list, 25 files of 100 KB of
    # text made a search's database time 85 ms instead of 10 (index_options.v1.sql).
    File.objects.filter(pk=library["photo"]).update(content_text="warthog " * 2000 + "spoor " * 500)
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('file_search'::regclass)")
        assert cursor.fetchone()[0] == 0  # pages that were pending
    assert [h["file"]["id"] for h in find(editor, tenant, q="warthog spoor")["results"]] == [library["photo"]]


def test_trashed_files_are_not_found_and_come_back_after_restore(editor, tenant, library):
    file_id = library["text/countries.csv"]
    editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/")
    assert find(editor, tenant, q="Liechtenstein")["results"] == []
    assert "text" not in find(editor, tenant)["facets"]["type"] or find(editor, tenant)["facets"]["type"]["text"] == 2
    editor.post(f"/api/v1/tenants/{tenant.slug}/trash/{file_id}/restore/")
    assert find(editor, tenant, q="Liechtenstein")["results"][0]["file"]["id"] == file_id


def test_rename_and_retag_are_searchable_at_once(editor, tenant, library):
    file_id = library["photo"]
    editor.patch(
        f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"name": "lizard.jpg", "tags": ["zoo"]}, format="json"
    )
    assert find(editor, tenant, q="lizard")["results"][0]["file"]["id"] == file_id
    assert find(editor, tenant, q="zoo")["results"][0]["file"]["id"] == file_id
    assert find(editor, tenant, q="safari")["results"] == [] or find(editor, tenant, q="safari")["suggestion"]


def test_other_tenants_and_private_files_never_appear(editor, tenant, library, member):
    other = MembershipFactory(role=Role.OWNER)
    outsider = client_for(other.user)
    data = (CORPUS / "text" / "countries.csv").read_bytes()
    theirs = upload(outsider, other.tenant, "countries.csv", data).json()["id"]
    file_process(file_id=theirs)
    ids = [h["file"]["id"] for h in find(editor, tenant, q="Liechtenstein")["results"]]
    assert theirs not in ids and ids == [library["text/countries.csv"]]
    assert outsider.get(f"/api/v1/tenants/{tenant.slug}/search/", {"q": "Liechtenstein"}).status_code == 404

    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{library['photo']}/", {"visibility": "private"}, format="json")
    viewer = member(Role.VIEWER)
    assert find(viewer, tenant, q="agama")["results"] == []
    assert "image" not in find(viewer, tenant)["facets"]["type"]


def test_query_count_does_not_grow_with_page_size(editor, tenant, library, monkeypatch):
    from files.api.views import SearchView

    def count(size: int) -> int:
        monkeypatch.setattr(SearchView, "page_size", size)
        with CaptureQueriesContext(connection) as ctx:
            body = find(editor, tenant, q="document")
        assert len(body["results"]) == size
        return len(ctx.captured_queries)

    assert count(2) == count(6)


def test_pagination_with_cursor(editor, tenant, library, monkeypatch):
    from files.api.views import SearchView

    monkeypatch.setattr(SearchView, "page_size", 3)
    seen = every_page(editor, f"/api/v1/tenants/{tenant.slug}/search/?q=document")
    assert len(seen) == len(set(seen)) == 7
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/search/", {"cursor": "garbage"}).status_code == 400


def test_rebuild_command(editor, tenant, library):
    File.objects.filter(tenant=tenant).update(search_vector=None)
    assert find(editor, tenant, q="Liechtenstein")["results"] == []
    out = io.StringIO()
    call_command("rebuild_search_index", "--tenant", tenant.slug, stdout=out)
    assert "Reindexed 8 files." in out.getvalue()
    assert find(editor, tenant, q="Liechtenstein")["results"][0]["file"]["id"] == library["text/countries.csv"]


def test_changing_the_tenant_language_reindexes(owner, tenant, monkeypatch, django_capture_on_commit_callbacks):
    from celery import current_app

    from files import tasks

    upload(owner, tenant, "notes.txt", "Les chevaux galopaient dans les prés".encode())
    file_process(file_id=File.objects.get(tenant=tenant).pk)
    # English stemming keeps "galopaient" apart from "galoper"; French makes both "galop".
    assert find(owner, tenant, q="galoper")["results"] == []
    # The worker's part, run here: the queued task is executed in-process.
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: tasks.reindex_tenant(*args))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"search_config": "french"}, format="json")
    assert response.status_code == 200 and len(callbacks) == 1
    assert len(find(owner, tenant, q="galoper")["results"]) == 1


def _text_file(client, tenant, name: str, text: str, **fields) -> str:
    file_id = upload(client, tenant, name, text.encode(), **fields).json()["id"]
    assert file_process(file_id=file_id) == "completed"
    return file_id


def test_name_tag_and_description_matches_rank_above_text_only_matches(editor, tenant):
    # The text-only file says "walrus" ten times; the others once, in their name, a tag or
    # their description: each of those still ranks first, and text-only matches follow.
    texty = _text_file(editor, tenant, "notes.txt", "the walrus " * 10 + "sleeps on the ice")
    tagged = _text_file(editor, tenant, "zoo.txt", "nothing to see", tags=["walrus"])
    named = _text_file(editor, tenant, "walrus.txt", "an animal")
    described = _text_file(editor, tenant, "x.txt", "more", description="a walrus photo")
    hits = find(editor, tenant, q="walrus")["results"]
    assert [h["file"]["id"] for h in hits] == [named, tagged, described, texty]
    assert hits[2]["rank"] > 1 > hits[3]["rank"] > 0


def test_exclusion_reaches_into_the_text_of_a_name_match(editor, tenant):
    _text_file(editor, tenant, "walrus.txt", "a draft about ice")
    kept = _text_file(editor, tenant, "walrus final.txt", "about ice")
    assert [h["file"]["id"] for h in find(editor, tenant, q="walrus -draft")["results"]] == [kept]
    assert [h["file"]["id"] for h in find(editor, tenant, q="walrus -draft", facets="false")["results"]] == [kept]


def test_facets_can_be_skipped_without_changing_the_results(editor, tenant, library):
    full = find(editor, tenant, q="document")
    quick = find(editor, tenant, q="document", facets="false")
    assert quick["facets"] == {} and full["facets"]["type"]
    assert [h["file"]["id"] for h in quick["results"]] == [h["file"]["id"] for h in full["results"]]
    assert [h["rank"] for h in quick["results"]] == [h["rank"] for h in full["results"]]


def test_pages_continue_from_name_matches_into_text_only_matches(editor, tenant, monkeypatch):
    from files.api.views import SearchView

    monkeypatch.setattr(SearchView, "page_size", 2)
    named = {_text_file(editor, tenant, f"otter {n}.txt", "swims") for n in range(3)}
    texty = {_text_file(editor, tenant, f"note {n}.txt", "an otter swims") for n in range(2)}
    for facets in ("true", "false"):
        seen = every_page(editor, f"/api/v1/tenants/{tenant.slug}/search/?q=otter&facets={facets}")
        assert set(seen[:3]) == named and set(seen[3:]) == texty and len(seen) == 5


def test_suggestions_never_reveal_words_from_files_the_member_cannot_see(editor, tenant, member):
    file_id = _text_file(editor, tenant, "layoffs plan.txt", "confidential")
    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"visibility": "private"}, format="json")
    viewer = member(Role.VIEWER)
    body = find(viewer, tenant, q="layofs")
    assert body["results"] == [] and body["suggestion"] is None
    assert find(editor, tenant, q="layofs")["suggestion"] == "layoffs"


def test_suggestions_never_reveal_name_words_of_files_the_member_cannot_see(editor, tenant, member):
    """The word is in a text the viewer may read, but in a name only on a private file."""
    private = _text_file(editor, tenant, "layoffs plan.txt", "confidential")
    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{private}/", {"visibility": "private"}, format="json")
    _text_file(editor, tenant, "memo.txt", "the layoffs were rumoured")
    viewer = member(Role.VIEWER)
    assert find(viewer, tenant, q="layoffs")["results"]  # the word itself: found in the memo's text
    body = find(viewer, tenant, q="layofs")
    assert body["results"] == [] and body["suggestion"] is None
    # A similar word of a name the viewer does see is still offered.
    _text_file(editor, tenant, "layouts.txt", "grids")
    assert find(viewer, tenant, q="layofs")["suggestion"] == "layouts"
    assert find(editor, tenant, q="layofs")["suggestion"] == "layoffs"


def test_a_suggestion_is_offered_however_many_files_come_before_its_holder(editor, tenant):
    from files.search.postgres.suggest import SUGGEST_HOLDERS_CHECKED

    owner = editor.user
    File.objects.bulk_create(
        [
            File(tenant=tenant, owner=owner, name=f"scan {n}.txt", content_type="text/plain")
            for n in range(2 * SUGGEST_HOLDERS_CHECKED)
        ]
    )
    File.objects.create(tenant=tenant, owner=owner, name="pelican.txt", content_type="text/plain")
    body = find(editor, tenant, q="pelicn")
    assert body["suggestion"] == "pelican"
    assert [h["file"]["name"] for h in body["results"]] == ["pelican.txt"]


def test_every_page_of_a_corrected_search_is_reachable(editor, tenant, monkeypatch):
    from files.api.views import SearchView

    monkeypatch.setattr(SearchView, "page_size", 2)
    invoices = {_text_file(editor, tenant, f"invoice {n}.txt", "paid") for n in range(5)}
    for facets in ("true", "false"):
        url = f"/api/v1/tenants/{tenant.slug}/search/?q=invoise&facets={facets}"
        assert editor.get(url).json()["suggestion"] == "invoice"
        seen = every_page(editor, url)
        assert len(seen) == 5 and set(seen) == invoices, facets


@pytest.mark.parametrize("q", ["''''", "'-'-", "____", "-", "--", '"', "or", "a -", "''''x"])
def test_queries_of_punctuation_answer_cleanly(editor, tenant, q):
    _text_file(editor, tenant, "walrus.txt", "ice")
    for facets in ("true", "false"):
        assert isinstance(find(editor, tenant, q=q, facets=facets)["results"], list)


def test_excluding_a_phrase_keeps_files_holding_its_words_apart(editor, tenant):
    kept = _text_file(editor, tenant, "note.txt", "the report: a version of the draft")
    _text_file(editor, tenant, "old.txt", "the report, draft version")
    named = _text_file(editor, tenant, "report.txt", "final")
    for facets in ("true", "false"):
        hits = find(editor, tenant, q='report -"draft version"', facets=facets)["results"]
        assert [h["file"]["id"] for h in hits] == [named, kept], facets


def test_suggestions_correct_each_misspelt_word_of_a_query(editor, tenant, library):
    body = find(editor, tenant, q="agamma safary")
    assert body["suggestion"] == "agama safari"
    assert body["results"][0]["file"]["id"] == library["photo"]


def test_rebuild_forgets_words_of_renamed_files(editor, tenant):
    from files.models import SearchTerm

    file_id = _text_file(editor, tenant, "pelican.txt", "a bird")
    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"name": "heron.txt"}, format="json")
    assert SearchTerm.objects.filter(tenant=tenant, term="pelican").exists()  # kept until a rebuild
    assert find(editor, tenant, q="pelicn")["suggestion"] is None  # ... but never suggested: nothing matches it
    call_command("rebuild_search_index", "--tenant", tenant.slug, stdout=io.StringIO())
    terms = set(SearchTerm.objects.filter(tenant=tenant).values_list("term", flat=True))
    assert "heron" in terms and "pelican" not in terms


def test_a_complete_common_word_is_not_also_taken_as_a_prefix(editor, tenant):
    from files.search.postgres.ranking import COMPLETE_WORD_MATCHES

    owner = editor.user
    File.objects.bulk_create(
        [
            File(tenant=tenant, owner=owner, name=f"scan {n}.txt", content_type="text/plain", content_text="an otter")
            for n in range(COMPLETE_WORD_MATCHES)
        ]
        + [File(tenant=tenant, owner=owner, name="otterhound.txt", content_type="text/plain")]
    )
    names = {h["file"]["name"] for h in find(editor, tenant, q="otte", facets="false")["results"]}
    assert "otterhound.txt" in names  # still typing: completions count
    body = find(editor, tenant, q="otter")
    assert "otterhound.txt" not in {h["file"]["name"] for h in body["results"]}
    assert sum(body["facets"]["type"].values()) == COMPLETE_WORD_MATCHES


@pytest.mark.parametrize("named", [60, 30])
def test_a_complete_word_found_in_names_or_text_pages_alike_with_and_without_facets(editor, tenant, monkeypatch, named):
    """Enough files name the word (60), or name it and say it in their text (30 + 30), for
    it to count as complete: every page lists the same files with or without facets."""
    from files.api.views import SearchView

    monkeypatch.setattr(SearchView, "page_size", 7)
    owner = editor.user
    File.objects.bulk_create(
        [File(tenant=tenant, owner=owner, name=f"otter {n}.txt", content_type="text/plain") for n in range(named)]
        + [
            File(tenant=tenant, owner=owner, name=f"scan {n}.txt", content_type="text/plain", content_text="an otter")
            for n in range(60 - named)
        ]
        + [File(tenant=tenant, owner=owner, name="otterhound.txt", content_type="text/plain")]
    )
    url = f"/api/v1/tenants/{tenant.slug}/search/?q=otter"
    quick, full = every_page(editor, f"{url}&facets=false"), every_page(editor, f"{url}&facets=true")
    assert quick == full
    assert len(set(quick)) == len(quick) == 60
    assert not File.objects.filter(pk__in=quick, name="otterhound.txt").exists()
    # The heads that settled it make the page: they are ranked once per search.
    for facets in ("false", "true"):
        with CaptureQueriesContext(connection) as ctx:
            find(editor, tenant, q="otter", facets=facets)
        assert sum("ts_rank_cd(files_file.search_head" in c["sql"] for c in ctx.captured_queries) == 1, facets


def test_a_phrase_found_only_in_text_lists_newest_first_on_every_page(editor, tenant, monkeypatch):
    from files.api.views import SearchView

    monkeypatch.setattr(SearchView, "page_size", 2)
    named = _text_file(editor, tenant, "blue whale.txt", "a song")
    # The oldest says it three times, so by rank it would come first; phrases go newest first.
    texty = [_text_file(editor, tenant, "note 0.txt", "blue whale, blue whale, blue whale")]
    texty += [_text_file(editor, tenant, f"note {n}.txt", f"we saw a blue whale, number {n}") for n in range(1, 4)]
    _text_file(editor, tenant, "apart.txt", "a blue sky and a whale")  # both words, not the phrase
    for facets in ("true", "false"):
        seen = every_page(editor, f'/api/v1/tenants/{tenant.slug}/search/?q="blue whale"&facets={facets}')
        assert seen == [named, *reversed(texty)], facets


def test_every_corpus_phrase_finds_its_document_first(editor, tenant, corpus_manifest):
    """Each document the corpus gives a search phrase for comes first when the phrase is typed.

    Where another document holds the same phrase too (the poem is in a PDF and a text file),
    the document may share first place: everything ranked above it holds the phrase.
    """
    documents = {}
    for entry in corpus_manifest:
        phrase = entry["expected"].get("search_phrase")
        pdf = entry["expected"].get("pdf") or {}
        if not phrase or entry["expected"].get("should_reject") or pdf.get("opens_without_password") is False:
            continue
        name = entry["file"].split("/")[-1]
        file_id = upload(editor, tenant, name, (CORPUS / entry["file"]).read_bytes()).json()["id"]
        assert file_process(file_id=file_id) == "completed", entry["file"]
        documents[file_id] = phrase
    assert len(documents) >= 20
    texts = {
        str(f.pk): " ".join(f"{f.name} {f.content_text}".split()).lower() for f in File.objects.filter(tenant=tenant)
    }
    misses = []
    for file_id, phrase in documents.items():
        ids = [h["file"]["id"] for h in find(editor, tenant, q=phrase)["results"]]
        above = ids[: ids.index(file_id)] if file_id in ids else None
        if above is None or any(" ".join(phrase.lower().split()) not in texts[other] for other in above):
            misses.append((phrase, ids[:3]))
    assert not misses


def test_highlights_escape_the_files_markup_and_mark_only_the_matches(editor, tenant):
    # Markup in a description (or a document's text) is the file owner's, not ours to render.
    text = "Sums: 3 < 4 & 5 > 2, and a \ue000stray mark about the walrus"
    description = '<img src=x onerror=alert(1)> walrus "><svg/onload=alert(2)>'
    file_id = upload(editor, tenant, "notes.txt", text.encode(), description=description).json()["id"]
    assert file_process(file_id=file_id) == "completed"

    highlight = find(editor, tenant, q="walrus")["results"][0]["highlight"]

    assert "<img" not in highlight and "&lt;img src=x onerror=alert(1)&gt;" in highlight
    assert "<svg" not in highlight and "&quot;&gt;&lt;svg/onload=alert(2)&gt;" in highlight
    assert "3 &lt; 4 &amp; 5 &gt; 2" in highlight
    assert highlight.count("<mark>") == highlight.count("</mark>") == 2
    assert "<mark>walrus</mark>" in highlight and "\ue000" not in highlight


def test_highlights_find_a_match_far_into_a_long_text(editor, tenant):
    filler = "Quarterly figures for the harbour office were filed without comment.\n" * 120
    early = upload(editor, tenant, "early.txt", ("A walrus early on.\n" + filler).encode()).json()["id"]
    late = upload(editor, tenant, "late.txt", (filler + "A narwhal far in.\n" + filler).encode()).json()["id"]
    for file_id in (early, late):
        assert file_process(file_id=file_id) == "completed"

    assert "<mark>walrus</mark>" in find(editor, tenant, q="walrus")["results"][0]["highlight"]
    assert "<mark>narwhal</mark>" in find(editor, tenant, q="narwhal")["results"][0]["highlight"]
