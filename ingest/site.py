"""A whole Docusaurus site: its doc versions and locales, each with its own folders and routes.

Reproduces the docs plugin of Docusaurus 3.10 (``versions/``, ``i18n``), checked against a real
build in ``tests/ingest/data/versioned_site_truth.json``:

- the versions are ``current`` (the ``docs/`` folder) and each name of ``versions.json``
  (``versioned_docs/version-<name>/``), newest first;
- ``lastVersion`` defaults to the first name of ``versions.json`` (``current`` without one);
  it is served at the route base path (``/docs/...``), ``current`` otherwise at ``/docs/next/``,
  every other version at ``/docs/<name>/``, unless the site gives a version its own ``path``;
- a non-default locale's routes start with ``/<locale>`` and each of its docs is read from
  ``i18n/<locale>/docusaurus-plugin-content-docs/<current|version-<name>>/`` when translated
  there, else from the untranslated file (the page Docusaurus serves); only files of the
  version's own folder are docs: a translation with no original is not published.

docusaurus.config.js is JavaScript, so it is not read: the owner states the locales and any
non-default docs options on the command line or in a small JSON file (``SiteConfig.from_json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.routes import join_url

CURRENT_VERSION = "current"
DOCS_PLUGIN_DIR = "docusaurus-plugin-content-docs"


class SiteError(ValueError):
    """The site folder or its configuration cannot be ingested (a message for a person)."""


@dataclass(frozen=True)
class DocsScope:
    """One version of the docs in one locale: where its files are and where they are served.

    Attributes:
        version: ``"current"`` or a name from ``versions.json`` (the ``docusaurus_version``
            meta tag of its pages).
        locale: The locale code (the ``docusaurus_locale`` meta tag).
        content_dir: The version's docs folder (``docs/`` or ``versioned_docs/version-X/``).
        localized_dir: Where this locale's translations of the version are (may not exist).
        route_base_path: What the version's routes start with, e.g. ``/fr/docs/1.0``.
        site_dir: The site root (source paths are shown relative to it); None for a lone
            docs folder, whose source paths start with the folder's name.
    """

    version: str
    locale: str
    content_dir: Path
    localized_dir: Path | None
    route_base_path: str
    site_dir: Path | None = None

    @property
    def key(self) -> str:
        """The scope's prefix in the ingest manifest (``<locale>/<version>``)."""
        return f"{self.locale}/{self.version}"

    def source_of(self, relative: str) -> tuple[Path, Path]:
        """The file to read for a doc of the version, and the folder it lies in."""
        if self.localized_dir is not None and (self.localized_dir / relative).is_file():
            return self.localized_dir / relative, self.localized_dir
        return self.content_dir / relative, self.content_dir

    def source_prefix(self, folder: Path) -> str:
        """How a source path in ``folder`` starts: ``docs``, ``i18n/fr/.../current``..."""
        if self.site_dir is None:
            return folder.resolve().name
        return folder.resolve().relative_to(self.site_dir.resolve()).as_posix()


@dataclass(frozen=True)
class SiteConfig:
    """The parts of docusaurus.config.js that change which docs exist and where they are served.

    Attributes:
        default_locale: ``i18n.defaultLocale``.
        locales: ``i18n.locales``; None: the default locale plus every ``i18n/<locale>/`` folder
            that holds docs translations.
        route_base_path: The docs plugin's ``routeBasePath``.
        base_url: The site's ``baseUrl``.
        last_version: The docs plugin's ``lastVersion``; None: Docusaurus' default.
        version_paths: ``versions.<name>.path`` overrides.
        include_current_version: The docs plugin's ``includeCurrentVersion``.
    """

    default_locale: str = "en"
    locales: tuple[str, ...] | None = None
    route_base_path: str = "/docs"
    base_url: str = "/"
    last_version: str | None = None
    version_paths: dict[str, str] = field(default_factory=dict)
    include_current_version: bool = True

    @classmethod
    def from_json(cls, path: Path) -> SiteConfig:
        """Read the JSON file an owner writes beside the site (same keys as the JS config).

        Keys (all optional): ``defaultLocale``, ``locales``, ``routeBasePath``, ``baseUrl``,
        ``lastVersion``, ``includeCurrentVersion``, ``versions`` (``{name: {"path": ...}}``).

        Raises:
            SiteError: The file is missing, not JSON, or has a wrong key or value.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SiteError(f"cannot read site config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise SiteError(f"site config {path} must be a JSON object")
        return cls.from_mapping(data, origin=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, origin: str = "site config") -> SiteConfig:
        """Build from the JSON keys (see ``from_json``)."""
        known = {
            "defaultLocale",
            "locales",
            "routeBasePath",
            "baseUrl",
            "lastVersion",
            "includeCurrentVersion",
            "versions",
        }
        if unknown := sorted(set(data) - known):
            raise SiteError(f"{origin}: unknown key(s) {', '.join(unknown)}")
        locales = data.get("locales")
        if locales is not None and not (
            isinstance(locales, list) and locales and all(isinstance(x, str) for x in locales)
        ):
            raise SiteError(f"{origin}: locales must be a non-empty list of locale codes")
        versions = data.get("versions", {})
        if not isinstance(versions, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("path", ""), str) for v in versions.values()
        ):
            raise SiteError(f'{origin}: versions must map names to {{"path": "..."}}')
        for key in ("defaultLocale", "routeBasePath", "baseUrl", "lastVersion"):
            if key in data and not isinstance(data[key], str):
                raise SiteError(f"{origin}: {key} must be a string")
        return cls(
            default_locale=data.get("defaultLocale", "en"),
            locales=tuple(locales) if locales else None,
            route_base_path=data.get("routeBasePath", "/docs"),
            base_url=data.get("baseUrl", "/"),
            last_version=data.get("lastVersion"),
            version_paths={name: v["path"] for name, v in versions.items() if "path" in v},
            include_current_version=bool(data.get("includeCurrentVersion", True)),
        )


@dataclass(frozen=True)
class SiteLayout:
    """The scopes of a site, and which of them a reader gets when they name none."""

    scopes: tuple[DocsScope, ...]
    default_version: str
    default_locale: str

    @property
    def versions(self) -> list[str]:
        """Version names, ``current`` first, then as in ``versions.json``."""
        return list(dict.fromkeys(scope.version for scope in self.scopes))

    @property
    def locales(self) -> list[str]:
        """Locale codes, the default first."""
        return list(dict.fromkeys(scope.locale for scope in self.scopes))

    def describe(self) -> dict[str, Any]:
        """What the index serves, as stored with it (the API validates requests against it)."""
        return {
            "versions": self.versions,
            "locales": self.locales,
            "default_version": self.default_version,
            "default_locale": self.default_locale,
        }


def docs_folder_layout(docs_dir: Path, route_base_path: str, locale: str = "en") -> SiteLayout:
    """A lone docs folder: the current version in one locale."""
    scope = DocsScope(
        version=CURRENT_VERSION,
        locale=locale,
        content_dir=docs_dir,
        localized_dir=None,
        route_base_path=route_base_path,
    )
    return SiteLayout(scopes=(scope,), default_version=CURRENT_VERSION, default_locale=locale)


def read_versions(site_dir: Path) -> list[str]:
    """The names in ``versions.json`` (newest first); ``[]`` without the file.

    Raises:
        SiteError: The file is not a JSON list of names.
    """
    path = site_dir / "versions.json"
    if not path.is_file():
        return []
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"cannot read {path}: {exc}") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise SiteError(f"{path} must be a JSON list of version names")
    return names


def site_layout(site_dir: Path, config: SiteConfig) -> SiteLayout:
    """Every version x locale of a site, with its folders and routes.

    Raises:
        SiteError: Not a site folder, a version folder missing, or an unknown ``lastVersion``.
    """
    if not site_dir.is_dir():
        raise SiteError(f"{site_dir} is not a folder (expected a Docusaurus site)")
    names = read_versions(site_dir)
    versions = ([CURRENT_VERSION] if config.include_current_version else []) + names
    if not versions:
        raise SiteError("includeCurrentVersion is false and versions.json lists no version")
    folders = {CURRENT_VERSION: site_dir / "docs"}
    folders.update({name: site_dir / "versioned_docs" / f"version-{name}" for name in names})
    for name in versions:
        if not folders[name].is_dir():
            raise SiteError(f"version {name!r}: folder {folders[name]} is missing")
    last = config.last_version or (names[0] if names else CURRENT_VERSION)
    if last not in versions:
        raise SiteError(f"lastVersion {last!r} is not one of: {', '.join(versions)}")
    locales = _locales(site_dir, config)
    scopes = []
    for locale in locales:
        is_default = locale == config.default_locale
        locale_base = config.base_url if is_default else join_url(config.base_url, locale)
        for name in versions:
            default_path = "" if name == last else "next" if name == CURRENT_VERSION else name
            path = config.version_paths.get(name, default_path)
            localized = "current" if name == CURRENT_VERSION else f"version-{name}"
            scopes.append(
                DocsScope(
                    version=name,
                    locale=locale,
                    content_dir=folders[name],
                    localized_dir=site_dir / "i18n" / locale / DOCS_PLUGIN_DIR / localized,
                    route_base_path=join_url(locale_base, config.route_base_path, path),
                    site_dir=site_dir,
                )
            )
    return SiteLayout(scopes=tuple(scopes), default_version=last, default_locale=locales[0])


def _locales(site_dir: Path, config: SiteConfig) -> list[str]:
    if config.locales is not None:
        if config.default_locale not in config.locales:
            raise SiteError(
                f"the default locale {config.default_locale!r} is not in locales "
                f"({', '.join(config.locales)})"
            )
        others = [code for code in config.locales if code != config.default_locale]
        return [config.default_locale, *others]
    i18n = site_dir / "i18n"
    found = sorted(
        p.name
        for p in (i18n.iterdir() if i18n.is_dir() else [])
        if (p / DOCS_PLUGIN_DIR).is_dir() and p.name != config.default_locale
    )
    return [config.default_locale, *found]
