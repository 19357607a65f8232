"""Running the iperf3 client and reading its JSON report."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass


@dataclass
class IperfResult:
    gbits: float  # end.sum_received.bits_per_second / 1e9: what the receiving side got
    seconds: float  # length of the transfer, as iperf3 measured it
    sent_bytes: int
    received_bytes: int
    retransmits: int | None  # TCP retransmits of the sending side (loopback: normally 0)

    def as_dict(self) -> dict:
        return asdict(self)


class IperfError(RuntimeError):
    pass


def parse(report: dict) -> IperfResult:
    if report.get("error"):
        raise IperfError(report["error"])
    end = report["end"]
    received, sent = end["sum_received"], end["sum_sent"]
    return IperfResult(
        gbits=received["bits_per_second"] / 1e9,
        seconds=max(received["seconds"], sent["seconds"]),
        sent_bytes=int(sent["bytes"]),
        received_bytes=int(received["bytes"]),
        retransmits=sent.get("retransmits"),
    )


def run(port: int, duration_s: float, reverse: bool = False, cpu: int = 0, tries: int = 5) -> IperfResult:
    """One single-stream test against 127.0.0.1:port (a proxy in front of `iperf3 -s`).

    iperf3's server runs one test at a time and may still be tearing the last one down when the
    next client arrives ("the server is busy"); that case is retried after a short pause.
    """
    argv = [
        "taskset",
        "-c",
        str(cpu),
        "iperf3",
        "-c",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        str(max(1, round(duration_s))),
        "-J",
    ]
    if reverse:
        argv.append("-R")
    for attempt in range(tries):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise IperfError(
                f"iperf3 exited {done.returncode} without a JSON report: {(done.stderr or done.stdout).strip()[:500]}"
            ) from None
        error = report.get("error", "")
        if "busy" in error and attempt + 1 < tries:
            time.sleep(0.5 * (attempt + 1))
            continue
        return parse(report)
    raise IperfError("unreachable")
