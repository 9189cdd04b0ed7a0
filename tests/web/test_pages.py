"""The OpenAPI document, the Swagger UI at /docs and the dashboard's files: served by the app,
with every asset local (no CDN)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from web.api.dashboard import VENDOR


def _external(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)


def test_openapi_document_describes_every_endpoint_and_error(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {
        "/v1/ingest",
        "/v1/analytics/performance/{vehicleId}",
        "/v1/meters/{meterId}",
        "/v1/vehicles/{vehicleId}",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    ingest = spec["paths"]["/v1/ingest"]["post"]
    assert set(ingest["responses"]) == {
        "202",
        "400",
        "401",
        "403",
        "408",
        "413",
        "414",
        "415",
        "422",
        "429",
        "503",
    }
    assert ingest["security"] == [{"device": []}]
    assert "Retry-After" in ingest["responses"]["503"]["headers"]
    assert "Retry-After" in ingest["responses"]["429"]["headers"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["device"]["scheme"] == schemes["analyst"]["scheme"] == "bearer"
    meter = spec["components"]["schemas"]["MeterReading"]
    assert set(meter["required"]) == {"meterId", "timestamp"}
    # The energy comes as the interval's or as the register, one of the two.
    assert "kwhRegisterAc" in meter["properties"]
    assert "unless kwhRegisterAc" in meter["properties"]["kwhConsumedAc"]["description"]
    assert meter["properties"]["meterId"]["pattern"].endswith("$")  # ECMA, not Python's \Z


def test_swagger_ui_is_served_locally(client):
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html
    assert _external(html) == []
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200


def test_dashboard_and_its_assets_are_served_locally(client):
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _external(html) == []
    for asset in ("plotly.min.js", "dashboard.js", "dashboard.css"):
        reply = client.get(f"/dashboard/assets/{asset}")
        assert reply.status_code == 200, asset
        assert reply.content_length > 100
    assert client.get("/dashboard/assets/../settings.py").status_code == 404


@pytest.mark.parametrize("path", ["/dashboard", "/docs/"])
def test_pages_run_only_their_own_scripts_and_cannot_be_framed(client, path):
    """The dashboard keeps the analyst token in localStorage: no other origin's script may run
    there, and no other site may frame it."""
    page = client.get(path)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["frame-ancestors"] == "'none'"
    sources = policy["script-src"].split()
    assert sources[0] == "'self'"
    assert all(s.startswith("'sha256-") for s in sources[1:]), "no unsafe-inline, no host"
    assert policy["connect-src"] == "'self'"


def test_the_docs_page_allows_exactly_its_own_inline_script(client):
    page = client.get("/docs/")
    html = page.get_data()
    inline = re.findall(rb"<script>(.*?)</script>", html, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert f"'sha256-{digest}'" in page.headers["Content-Security-Policy"]


def test_vendored_plotly_is_the_published_file_its_readme_names():
    """The dashboard's chart library is served from the repository, not from a package: the file
    must be the release the vendor README names, unedited, with its licence beside it."""

    readme = (VENDOR / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `plotly.min.js`"))
    found = re.search(r"\| ([\d.]+) \|.*`([0-9a-f]{64})`", row)
    assert found, row
    version, digest = found.groups()
    script = (VENDOR / "plotly.min.js").read_bytes()
    assert hashlib.sha256(script).hexdigest() == digest
    assert f"plotly.js v{version}\n".encode() in script[:100]
    assert "MIT License" in (VENDOR / "plotly.LICENSE").read_text()
