"""Parsers for the outputs bench/run collects. Pure functions of text.

Each returns a dict of figures in fixed units (GB = 1e9 bytes, GB/s,
Mpps = million messages per second, microseconds) or raises ValueError
saying what was missing, so a changed output format is a loud error.
"""
import json
import re

MIB = 1 << 20


def _perftest_table(text):
    """Column names and numeric rows of perftest's result table."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "#bytes" not in line:
            continue
        # Names are separated by 2+ spaces ("BW peak[MB/sec]" holds one);
        # "#bytes #iterations" share one run of spaces.
        cols = []
        for h in re.split(r"\s{2,}|\t+", line.strip()):
            cols.extend(h.split(" ") if h.startswith("#") else [h])
        rows = []
        for row in lines[i + 1:]:
            fields = row.split()
            if not fields or not fields[0].isdigit():
                break
            rows.append([float(f) for f in fields])
        if rows:
            return cols, rows
    raise ValueError("no perftest result table (#bytes ...)")


def _col(cols, prefix):
    for i, c in enumerate(cols):
        if c.startswith(prefix):
            return i
    raise ValueError(f"perftest table has no column {prefix!r}: {cols}")


def perftest_bw(text):
    """ib_*_bw: BW average (perftest's MB/sec is MiB/s) and MsgRate."""
    cols, rows = _perftest_table(text)
    r = rows[0]
    i = _col(cols, "BW average")
    gbps = r[i] / 8 if "Gb/sec" in cols[i] else r[i] * MIB / 1e9
    return {"size": int(r[0]), "gbytes_per_s": gbps, "mpps": r[_col(cols, "MsgRate")]}


def perftest_lat(text):
    """ib_*_lat -n: t_typical is perftest's median; 99% its 99th percentile.
    perftest reports half the round trip, as sockperf does."""
    cols, rows = _perftest_table(text)
    r = rows[0]
    return {
        "size": int(r[0]),
        "iterations": int(r[1]),
        "median_us": r[_col(cols, "t_typical")],
        "p99_us": r[_col(cols, "99%")],
        "avg_us": r[_col(cols, "t_avg")],
    }


def iperf3(text):
    """iperf3 -J: bytes and rate the receiver got; CPU use of both ends."""
    obj = json.loads(text)
    if "error" in obj:
        raise ValueError(f"iperf3: {obj['error']}")
    end = obj["end"]
    recv = end["sum_received"]
    return {
        "gbytes_per_s": recv["bits_per_second"] / 8e9,
        "bytes": int(recv["bytes"]),
        "seconds": recv["seconds"],
        "cpu_percent_sender": end["cpu_utilization_percent"]["host_total"],
        "cpu_percent_receiver": end["cpu_utilization_percent"]["remote_total"],
    }


def _num(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        raise ValueError(f"sockperf output has no {what}")
    return float(m.group(1))


def sockperf_throughput(client_text, server_text=""):
    """sockperf throughput: the sender's message rate (sockperf's summary);
    the receiver's count, printed when it is interrupted, shows the loss."""
    out = {
        "mpps": _num(r"Message Rate is (\d+) \[msg/sec\]", client_text, "message rate") / 1e6,
        "gbytes_per_s": _num(r"BandWidth is ([\d.]+) MBps", client_text, "bandwidth") * MIB / 1e9,
        "sent": int(_num(r"Total of (\d+) messages sent", client_text, "sent count")),
        "seconds": _num(r"messages sent in ([\d.]+) sec", client_text, "run time"),
    }
    m = re.search(r"Total (\d+) messages received", server_text)
    if m:
        out["received"] = int(m.group(1))
        out["received_mpps"] = out["received"] / out["seconds"] / 1e6
        out["received_gbytes_per_s"] = out["gbytes_per_s"] * out["received"] / out["sent"]
    return out


def sockperf_pingpong(text):
    """sockperf ping-pong: latency (half the round trip) percentiles."""
    return {
        "median_us": _num(r"percentile 50\.000 =\s*([\d.]+)", text, "50th percentile"),
        "p99_us": _num(r"percentile 99\.000 =\s*([\d.]+)", text, "99th percentile"),
        "avg_us": _num(r"avg-latency=([\d.]+)", text, "average latency"),
        "observations": int(_num(r"Total (\d+) observations", text, "observation count")),
    }


def memcpy_bw(text):
    obj = json.loads(text.strip().splitlines()[-1])
    return {"gbytes_per_s": obj["memcpy_gbps"], "best_gbytes_per_s": obj["best_gbps"]}


def key_values(text):
    """NAME.meta: key=value per line (the value may hold spaces and '=');
    NAME.cpu / NAME.rss.*: several key=value on one line, values without spaces."""
    out = {}
    for line in text.splitlines():
        if re.fullmatch(r"(\w+=\S*\s+)+\w+=\S*", line.strip()):
            out.update(p.split("=", 1) for p in line.split())
        elif "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v
    return out
