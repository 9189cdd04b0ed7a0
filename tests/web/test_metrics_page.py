"""/metrics is open to anyone: a burst of scrapes renders the page once a second, not per call."""

from __future__ import annotations

from web.api import monitoring


def test_a_burst_of_scrapes_renders_once(client, monkeypatch):
    renders = []
    real = monitoring.render

    def counted(ev):
        renders.append(1)
        return real(ev)

    monkeypatch.setattr(monitoring, "render", counted)
    pages = [client.get("/metrics") for _ in range(50)]
    assert all(p.status_code == 200 for p in pages)
    assert len({p.data for p in pages}) == 1
    assert b"ev_dependency_up" in pages[0].data
    assert len(renders) == 1


def test_the_page_is_rendered_again_once_its_second_has_passed():
    now = [100.0]
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return f"page {len(made)}".encode()

    page = monitoring.RenderedOnce(make, 1.0, lambda: now[0])
    assert page.get() == b"page 1"
    now[0] += 0.9
    assert page.get() == b"page 1"
    now[0] += 0.2
    assert page.get() == b"page 2"
