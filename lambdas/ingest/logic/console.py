"""The console's files and the headers they are served with (GET /console, GET /console/{file}).

The console is static: an HTML page, ES modules and a style sheet under ingest/console/, no build step.
Every data call it makes goes to the API with the user's token; the page itself needs none. What makes it
safe to serve is decided here, once: which files exist (a fixed set read at cold start, so a path can
name nothing else), and a Content-Security-Policy that allows only our own scripts and styles (no inline
code at all) and connections only to the API and to where presigned URLs point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ingest
from ingest.adapters.object_store import ObjectStore

CONSOLE_DIR = Path(ingest.__file__).resolve().parent / "console"
# Third-party files a page loads, served by name beside ours: Uppy's bundle for upload.html, fetched at
# set-up by `make uppy` into a git-ignored directory (Makefile: pinned version and SHA-256). Kept apart
# so the tests that hold our own files to the CSP's rules (no HTML insertion, no inline code) read ours.
VENDOR_DIR = CONSOLE_DIR.parent / "vendor"
VENDORED = ("uppy.min.js",)
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",  # the pages' icon: without one the browser asks for /favicon.ico, a 404
}
# A key that is never written: presigning it only shows which origin the bucket's URLs use.
ORIGIN_PROBE_KEY = "console/origin-probe"


@dataclass(frozen=True)
class ConsoleFile:
    body: str
    content_type: str


def load_files(directory: Path = CONSOLE_DIR, vendor: Path = VENDOR_DIR) -> dict[str, ConsoleFile]:
    """Every servable file by name: the directory's .html, .js, .css and .svg files and the vendored files that
    are there, nothing else."""
    paths = [*(path for path in sorted(directory.iterdir()) if path.suffix in CONTENT_TYPES),
             *(vendor / name for name in VENDORED if (vendor / name).is_file())]
    return {path.name: ConsoleFile(path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix]) for path in paths}


def upload_origin(objects: ObjectStore) -> str:
    """The scheme, host and port of the bucket's presigned URLs: where the browser PUTs files and GETs
    error logs. Taken from a URL the same client signs, so it is right on AWS (the regional virtual
    host, adapters/aws.py) and locally (the emulator's endpoint) alike. Signing calls no AWS API."""
    url = urlsplit(objects.presigned_get(ORIGIN_PROBE_KEY, expires_in=60))
    return f"{url.scheme}://{url.netloc}"


def content_security_policy(upload_origin: str) -> str:
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # The API (same origin) and the bucket: uploads and error logs go straight to presigned URLs.
        f"connect-src 'self' {upload_origin}",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


def security_headers(upload_origin: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(upload_origin),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The page's URL carries nothing secret, but presigned links opened from it must not name it.
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=31536000",
        # Small files that change with each deployment: always revalidated, never served stale.
        "Cache-Control": "no-cache",
    }
