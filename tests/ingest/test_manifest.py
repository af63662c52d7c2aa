from ingest.manifest import FileEntry, Manifest, diff_manifest, ingest_signature


def test_manifest_round_trips_through_collection_metadata():
    manifest = Manifest(
        signature="abc",
        files={
            "a.md": FileEntry(content_hash="h1", point_ids=("p1", "p2")),
            "bad.md": FileEntry(content_hash="h2", point_ids=(), error="broken front matter"),
        },
    )
    again = Manifest.from_metadata(manifest.to_metadata())
    assert again == manifest
    assert again.chunk_count == 2
    assert again.errors == [("bad.md", "broken front matter")]


def test_missing_manifest_reads_as_none():
    assert Manifest.from_metadata({}) is None


def test_diff_sorts_files_into_unchanged_changed_added_deleted():
    previous = Manifest(
        signature="s",
        files={
            "same.md": FileEntry("1", ("x",)),
            "edited.md": FileEntry("2", ("y",)),
            "gone.md": FileEntry("3", ("z",)),
        },
    )
    diff = diff_manifest(previous, {"same.md": "1", "edited.md": "changed", "new.md": "4"})
    assert (diff.unchanged, diff.changed, diff.added, diff.deleted) == (
        ["same.md"],
        ["edited.md"],
        ["new.md"],
        ["gone.md"],
    )
    assert not diff.is_empty
    assert diff_manifest(previous, {"same.md": "1", "edited.md": "2", "gone.md": "3"}).is_empty


def test_signature_depends_on_every_parameter():
    base = ingest_signature(model="m", chunk_tokens=200)
    assert base == ingest_signature(chunk_tokens=200, model="m")
    assert base != ingest_signature(model="m", chunk_tokens=201)
