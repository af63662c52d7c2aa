"""Doc ids and page routes, as the Docusaurus 3 docs plugin computes them.

Ported from ``@docusaurus/plugin-content-docs`` 3.10 (``docs.ts``, ``slug.ts``,
``numberPrefix.ts``) and ``resolve-pathname``:

- number prefixes (``01-``, ``1.``, ``01_``, ``003 - ``) are stripped from file and folder names,
  but not version-like names (``2.0-notes``); front matter ``parse_number_prefixes: false``
  keeps them;
- ``id`` front matter replaces the file-name part of the id and of the slug;
- ``slug`` front matter is absolute when it starts with ``/``, else resolved against the folder;
- ``index``/``README`` (any case) and a file named like its folder (``guide/guide.md``, compared
  before prefixes are stripped) are the folder's page: slug ``/guide/``;
- the route is the route base path joined with the slug; Docusaurus keeps a folder page's
  trailing slash (``/docs/guide/``) unless the site sets ``trailingSlash``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

_IGNORED_PREFIX = re.compile(r"^[0-9]+[-_.][0-9]+")
_NUMBER_PREFIX = re.compile(r"^(?P<number>[0-9]+)\s*[-_.]+\s*(?P<suffix>[^-_.\s].*)$")


class RouteError(ValueError):
    """Docusaurus would refuse this doc's id or slug."""


@dataclass(frozen=True)
class DocRoute:
    """Where Docusaurus publishes one doc.

    Attributes:
        doc_id: The doc id, e.g. ``"guide/install"``.
        slug: The slug below the route base path, e.g. ``"/guide/install"``.
        url: The page route, e.g. ``"/docs/guide/install"``.
        number_prefix: The file name's number prefix (``2`` for ``02-install.md``), if any.
    """

    doc_id: str
    slug: str
    url: str
    number_prefix: int | None


def parse_number_prefix(name: str) -> tuple[str, int | None]:
    """Split ``"01-intro"`` into ``("intro", 1)``; names without a prefix come back whole."""
    if _IGNORED_PREFIX.match(name):
        return name, None
    match = _NUMBER_PREFIX.match(name)
    if match is None:
        return name, None
    return match["suffix"], int(match["number"])


def strip_path_number_prefixes(path: str) -> str:
    """``"01-basics/02-setup"`` -> ``"basics/setup"``."""
    return "/".join(parse_number_prefix(part)[0] for part in path.split("/"))


def is_category_index(file_stem: str, source_dir: str) -> bool:
    """Whether a doc is its folder's index: ``index``, ``readme`` or ``<folder>/<folder>``."""
    names = {"index", "readme", source_dir.split("/")[-1].lower()}
    return file_stem.lower() in names


def resolve_pathname(to: str, base: str) -> str:
    """URL-style resolution of ``to`` against ``base`` (the ``resolve-pathname`` package)."""
    to_parts = to.split("/") if to else []
    parts = base.split("/") if base else []
    must_end_abs = to.startswith("/") or base.startswith("/")
    if to.startswith("/"):
        parts = to_parts
    elif to_parts:
        parts = [*parts[:-1], *to_parts]
    if not parts:
        return "/"
    has_trailing_slash = parts[-1] in (".", "..", "")
    up = 0
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == ".":
            del parts[i]
        elif parts[i] == "..":
            del parts[i]
            up += 1
        elif up:
            del parts[i]
            up -= 1
    if not must_end_abs:
        parts = [".."] * up + parts
    if must_end_abs and (not parts or parts[0] != ""):
        parts.insert(0, "")
    result = "/".join(parts)
    if has_trailing_slash and not result.endswith("/"):
        result += "/"
    return result


def join_url(*segments: str) -> str:
    """Join URL path segments with single slashes, keeping the last one's trailing slash."""
    joined = "/".join(segment for segment in segments if segment)
    return "/" + re.sub(r"/{2,}", "/", joined).lstrip("/")


def apply_trailing_slash(url: str, trailing_slash: bool | None) -> str:
    """The site's ``trailingSlash`` setting: ``None`` keeps the url as computed."""
    if trailing_slash is None or url == "/":
        return url
    return url.rstrip("/") + "/" if trailing_slash else url.rstrip("/")


def doc_route(
    relative_path: PurePosixPath,
    front_matter: dict[str, Any],
    route_base_path: str = "/docs",
    trailing_slash: bool | None = None,
) -> DocRoute:
    """Compute a doc's id and route from its path in the docs folder and its front matter.

    Args:
        relative_path: Path of the file relative to the docs folder, e.g. ``01-a/02-b.md``.
        front_matter: The parsed front matter (``id``, ``slug``, ``parse_number_prefixes``).
        route_base_path: The docs plugin's ``routeBasePath`` (``"/docs"``, ``"/"``...).
        trailing_slash: The site's ``trailingSlash`` (``None``: Docusaurus' default).

    Returns:
        The doc's id, slug, route and file-name number prefix.

    Raises:
        RouteError: The id contains a slash or the slug is not a valid URL path.
    """
    parse_prefixes = front_matter.get("parse_number_prefixes", True) is not False
    stem = relative_path.stem
    source_dir = relative_path.parent.as_posix()
    unprefixed, number_prefix = parse_number_prefix(stem) if parse_prefixes else (stem, None)
    front_matter_id = _optional_str(front_matter, "id")
    base_id = front_matter_id if front_matter_id is not None else unprefixed
    if "/" in base_id:
        raise RouteError(f'document id "{base_id}" cannot include a slash')
    dir_name = strip_path_number_prefixes(source_dir) if parse_prefixes else source_dir
    doc_id = base_id if source_dir == "." else f"{dir_name}/{base_id}"
    dir_slug = "/" if source_dir == "." else f"/{dir_name.strip('/')}/"
    front_matter_slug = _optional_str(front_matter, "slug")
    if front_matter_slug is not None and front_matter_slug.startswith("/"):
        slug = front_matter_slug
    elif not front_matter_slug and is_category_index(stem, source_dir):
        slug = dir_slug
    else:
        to = front_matter_slug if front_matter_slug is not None else base_id
        slug = resolve_pathname(to, dir_slug)
    if not _is_valid_pathname(slug):
        raise RouteError(f"computed slug {slug!r} is not a valid URL path; set a `slug`")
    url = apply_trailing_slash(join_url(route_base_path, slug), trailing_slash)
    return DocRoute(doc_id=doc_id, slug=slug, url=url, number_prefix=number_prefix)


def _optional_str(front_matter: dict[str, Any], key: str) -> str | None:
    value = front_matter.get(key)
    return None if value is None else str(value)


def _is_valid_pathname(slug: str) -> bool:
    if not slug.startswith("/") or any(char in slug for char in "?#\\"):
        return False
    return not any(part in (".", "..") for part in slug.split("/"))
