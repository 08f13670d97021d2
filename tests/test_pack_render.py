"""The pack's renderer on its own: what WeasyPrint drops is an error, and nothing outside the page is fetched."""

import pytest

from orchestration.lib.pack.render import _css_string, render_pdf


def test_a_css_rule_weasyprint_drops_is_an_error_not_a_silently_missing_marking():
    # the bug this guards against: the page-margin marking HTML-escaped into the stylesheet and lost
    broken = "<html><head><style>@page { @top-left { content: &#34;OFFICIAL&#34;; } }</style></head><body>x</body></html>"
    with pytest.raises(ValueError, match="could not use part of the pack"):
        render_pdf(broken)
    good = f"<html><head><style>@page {{ @top-left {{ content: {_css_string('OFFICIAL')}; }} }}</style></head><body>x</body></html>"
    assert render_pdf(good).startswith(b"%PDF")


def test_nothing_outside_the_page_is_fetched():
    """A real local HTTP server: an image or stylesheet link in the page is never requested."""
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        pdf = render_pdf(f'<html><head><link rel="stylesheet" href="{base}/a.css"></head>'
                         f'<body><img src="{base}/logo.png">x</body></html>')
    finally:
        server.shutdown()
    assert pdf.startswith(b"%PDF") and hits == []


def test_a_name_cannot_close_the_style_element():
    assert "</style" not in _css_string("Newport </style><script>x</script>")


def test_a_failed_pack_tells_the_run_only_the_error_class(tmp_path):
    """The run's failure message names the error's class and where its details are; the details (which could
    quote partner free text) are only in an owner-only file."""
    from orchestration.lib.pack.build import _failure

    try:
        raise ValueError("rationale quoted: Mr Jones of 1 High Street")
    except ValueError as exc:
        shown = _failure(tmp_path, "2024-Q2/newport", exc)
    assert shown.startswith("ValueError (details in ") and "Jones" not in shown
    (kept,) = (tmp_path / "errors").iterdir()
    assert "Mr Jones" in kept.read_text() and kept.stat().st_mode & 0o077 == 0
    assert (tmp_path / "errors").stat().st_mode & 0o077 == 0


def test_rendering_leaves_the_garbage_collector_as_it_found_it():
    """render_pdf pauses Python's cyclic collector while WeasyPrint works (a sixth of a PDF's time) and puts it
    back: on if it was on, off if the caller had turned it off."""
    import gc

    page = "<html><body><p>x</p></body></html>"
    assert gc.isenabled()
    first = render_pdf(page)
    assert gc.isenabled()
    gc.disable()
    try:
        assert render_pdf(page) == first  # the same bytes with the collector paused by the caller
        assert not gc.isenabled()
    finally:
        gc.enable()
