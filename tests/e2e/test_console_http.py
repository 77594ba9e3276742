"""The console over plain HTTP on the local stack: public, its files only, and the headers that keep it safe."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

from ingest.logic.console import CONSOLE_DIR


def get(stack, path: str, **kwargs) -> requests.Response:
    return requests.get(f"{stack.info.api_url}{path}", timeout=30, allow_redirects=False, **kwargs)


def test_the_page_needs_no_token_and_comes_with_a_strict_content_security_policy(stack):
    page = get(stack, "/console")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="console/app.js">' in page.text
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"  # no inline code, no CDN
    # The API itself, and the storage presigned URLs point at (here the local S3), nothing else.
    assert policy["connect-src"] == f"'self' {stack.info.aws_endpoint}"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_each_file_is_served_with_its_type_and_nothing_else_is(stack):
    for path in sorted(CONSOLE_DIR.iterdir()):
        answer = get(stack, f"/console/{path.name}")
        assert answer.status_code == 200, path.name
        assert answer.text == path.read_text(), path.name
        assert answer.headers["Content-Type"].split(";")[0] == {
            ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[path.suffix]
    for name in ("nope.js", "..%2Fconfig.py", "%2E%2E%2Fhandlers%2Fconsole.py", "console.py"):
        assert get(stack, f"/console/{name}").status_code == 404, name


def test_both_pages_name_an_icon_that_is_served_so_the_browser_asks_for_no_favicon_ico(stack):
    # Without a <link rel="icon">, a browser asks the API for /favicon.ico: a 404 in every page's console.
    for page in ("/console", "/console/upload.html"):
        page_url = f"{stack.info.api_url}{page}"
        href = re.search(r'<link rel="icon" href="([^"]+)"', requests.get(page_url, timeout=30).text).group(1)
        icon = requests.get(urljoin(page_url, href), timeout=30)
        assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/svg+xml", (page, href)
        assert icon.text.startswith("<svg")


def test_a_trailing_slash_is_sent_to_the_page_so_its_relative_urls_resolve(stack):
    answer = get(stack, "/console/")
    assert answer.status_code == 308 and answer.headers["Location"] == "../console"


def test_the_files_hold_no_inline_code_no_html_insertion_and_no_external_address():
    """What the CSP forbids, the files do not need; and API text is never parsed as HTML."""
    for path in CONSOLE_DIR.iterdir():
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace's name, not fetched
        assert not re.search(r"https?://", text), f"{path.name} names an external address"
        assert not re.search(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval)\b", text), path.name
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
            assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), "inline style or handler"
