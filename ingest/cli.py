"""``rag-ingest``: index a Docusaurus docs folder, or a whole site with its versions and locales."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from ingest.pipeline import IngestInputError, IngestOptions, run_ingest
from ingest.site import SiteConfig, SiteError
from rag.logs import configure_json_logging
from rag.retrieval.embeddings import build_embed_model
from rag.retrieval.vector_store import IndexUnavailableError, build_qdrant_client
from rag.safety.redaction import settings_secrets
from rag.settings import Settings, get_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 3


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """Command-line options; defaults come from the settings."""
    parser = argparse.ArgumentParser(
        prog="rag-ingest",
        description="Index a Docusaurus docs folder (the folder holding the .md/.mdx pages: the "
        "current version, one locale), or with --site a whole site: every version of "
        "versions.json and every locale's translations, each at its own routes. "
        "Unchanged files are reused, changed ones re-embedded, deleted ones purged; the previous "
        "index keeps serving until the new one is complete.",
        epilog="Exit codes: 0 done, 1 failed (nothing changed), 2 bad usage, "
        "3 done but some files were skipped (listed on stderr).",
    )
    parser.add_argument("docs_dir", type=Path, metavar="DOCS_DIR", nargs="?")
    site = parser.add_argument_group(
        "whole site",
        "docusaurus.config.js is JavaScript and is not read: give the locales and any "
        "non-default docs options here or in --site-config (flags win over the file)",
    )
    site.add_argument(
        "--site",
        type=Path,
        metavar="SITE_DIR",
        help="the site folder (holding docs/, and versions.json, versioned_docs/, i18n/ if any)",
    )
    site.add_argument(
        "--site-config",
        type=Path,
        metavar="FILE",
        help="JSON with the config's values: defaultLocale, locales, routeBasePath, baseUrl, "
        'lastVersion, includeCurrentVersion, versions ({"1.0": {"path": "..."}})',
    )
    site.add_argument("--default-locale", help="i18n.defaultLocale (default: en)")
    site.add_argument(
        "--locales",
        help="i18n.locales, comma-separated (default: the default locale and every i18n/ "
        "folder with docs translations)",
    )
    site.add_argument(
        "--last-version",
        help="the docs plugin's lastVersion (default: the first name in versions.json)",
    )
    parser.add_argument(
        "--locale",
        default="en",
        help="with DOCS_DIR: the locale of its pages (default: %(default)s)",
    )
    parser.add_argument(
        "--route-base-path",
        help=f"the docs plugin's routeBasePath (default: {settings.route_base_path}, "
        "or the site config's)",
    )
    parser.add_argument(
        "--trailing-slash",
        choices=["true", "false"],
        default=None if settings.trailing_slash is None else str(settings.trailing_slash).lower(),
        help="the site's trailingSlash option (default: unset, as Docusaurus: folder pages "
        "such as foo/index.md end in '/')",
    )
    parser.add_argument(
        "--collection", default=settings.collection, help="index name (default: %(default)s)"
    )
    parser.add_argument("--full", action="store_true", help="re-embed every file")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (none either when stderr is not a terminal)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rag-ingest``."""
    settings = get_settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    if (args.docs_dir is None) == (args.site is None):
        parser.error("give either DOCS_DIR or --site SITE_DIR")
    site_flags = (args.site_config, args.default_locale, args.locales, args.last_version)
    if args.site is None and any(flag is not None for flag in site_flags):
        parser.error("--site-config, --default-locale, --locales and --last-version need --site")
    try:
        site = _site_config(args, settings) if args.site is not None else None
    except SiteError as exc:
        print(f"rag-ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    folder = args.site if site is not None else args.docs_dir
    configure_json_logging(settings.log_level, secrets=settings_secrets(settings))
    settings = settings.model_copy(
        update={
            "collection": args.collection,
            "route_base_path": args.route_base_path or settings.route_base_path,
            "trailing_slash": None
            if args.trailing_slash is None
            else args.trailing_slash == "true",
        }
    )
    options = IngestOptions.from_settings(
        settings,
        folder,
        full=args.full,
        # the bars redraw in place: only on a terminal, never into a log file or pipe
        show_progress=not args.quiet and sys.stderr.isatty(),
        locale=args.locale,
        site=site,
    )
    if not folder.is_dir():
        print(f"rag-ingest: error: {folder} is not a folder", file=sys.stderr)
        return EXIT_FAILED
    try:
        client = build_qdrant_client(settings)
    except IndexUnavailableError as exc:
        print(f"rag-ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = run_ingest(options, client=client, embed_model=build_embed_model(settings))
    except IngestInputError as exc:
        print(f"rag-ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rag-ingest: interrupted; the previous index is still serving", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    for path, reason in report.skipped:
        print(f"rag-ingest: skipped {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return EXIT_SKIPPED if report.skipped else EXIT_OK


def _site_config(args: argparse.Namespace, settings: Settings) -> SiteConfig:
    """The site's options: the --site-config file, then the flags over it.

    Raises:
        SiteError: The file cannot be read or holds a wrong value.
    """
    config = (
        SiteConfig.from_json(args.site_config)
        if args.site_config
        else SiteConfig(route_base_path=settings.route_base_path)
    )
    changes: dict[str, Any] = {}  # SiteConfig fields of several types
    if args.default_locale:
        changes["default_locale"] = args.default_locale
    if args.locales:
        changes["locales"] = tuple(code.strip() for code in args.locales.split(",") if code.strip())
    if args.last_version:
        changes["last_version"] = args.last_version
    if args.route_base_path:
        changes["route_base_path"] = args.route_base_path
    return dataclasses.replace(config, **changes)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
