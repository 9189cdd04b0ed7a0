"""Beat on several hosts: one sends the schedule, the others stand by and take over."""

from __future__ import annotations

import os
import time

from tests.support.helpers import wait_until


def test_first_beat_leads_the_next_waits_and_takes_over_at_a_clean_stop(service, tmp_path):
    # A fresh host: no DATA_DIR yet, and beat is the first process to start.
    service.env["DATA_DIR"] = str(tmp_path / "fresh" / "data")
    service.env["BEAT_LEASE_SECONDS"] = "30"
    service.env["REFRESH_SECONDS"] = "1"
    service.start("beat", key="beat1")
    wait_until(lambda: "event=beat_leader" in service.log("beat1"), 30, "the first beat to lead")
    assert os.path.isdir(service.env["DATA_DIR"])

    service.env["DATA_DIR"] = str(tmp_path / "other" / "data")
    service.start("beat", key="beat2")
    wait_until(lambda: "event=beat_standby" in service.log("beat2"), 30, "the second to wait")
    sent = "Sending due task refresh-performance"
    wait_until(lambda: service.log("beat1").count(sent) >= 3, 30, "the leader to send")
    assert sent not in service.log("beat2")

    # A clean stop hands the lease over at once, not after BEAT_LEASE_SECONDS.
    stopped = time.monotonic()
    assert service.stop("beat1") == 0
    wait_until(lambda: "event=beat_leader" in service.log("beat2"), 20, "the second to lead")
    assert time.monotonic() - stopped < 20
    wait_until(lambda: sent in service.log("beat2"), 20, "the new leader to send")
