#!/usr/bin/env python3
"""Check the result table an unmodified perftest tool (ib_*_bw, ib_*_lat) printed.

    parse_perftest.py LOG [--rows N] [--optional] [--label TEXT]

Finds the table under the "#bytes" header and checks every row is plausible:
bandwidth tables need 0 < BW average < 1000 Gb/s and a message rate > 0;
latency tables need 0 < t_min <= t_typical, and t_typical, t_avg below 1 s
(the duration mode's "t_avg / tps average" table: t_avg in (0, 1 s), tps > 0).
--rows N: exactly N rows (e.g. 23 for -a: 2 B .. 8 MiB). --optional: a log
without a table is fine (the passive side of some tools prints none).
--burst-ok: no upper bound on bandwidth, only a note. For ib_send_bw's
receiving side, which times first to last receive completion: with the
messages already queued (posted at once, or the receiver descheduled on a busy
machine) they complete as one burst of a few microseconds.
Prints one summary line "RESULT <label>: <figures>"; exits 1 with the reason
on anything implausible.
"""
import argparse
import re
import sys

MIB = 1 << 20
GBIT = 1e9
MAX_GBPS = 1000.0
MAX_LATENCY_US = 1e6


def find_table(lines):
    """The header's column names and the numeric rows below it."""
    for i, line in enumerate(lines):
        if "#bytes" not in line:
            continue
        # Column names: split on runs of 2+ spaces/tabs ("BW peak[MB/sec]"
        # holds a single space); "#bytes #iterations" shares one run.
        header = re.split(r"\s{2,}|\t+", line.strip())
        cols = []
        for h in header:
            cols.extend(h.split(" ") if h.startswith("#") else [h])
        rows = []
        for row in lines[i + 1:]:
            fields = row.split()
            if not fields or not re.fullmatch(r"\d+", fields[0]):
                break
            try:
                rows.append([float(f) for f in fields])
            except ValueError:
                break
        return cols, rows
    return None, []


def col(cols, name):
    for i, c in enumerate(cols):
        if c.startswith(name):
            return i
    raise KeyError(name)


def check_bw(cols, rows, errors, burst_ok=False):
    avg_i, rate_i = col(cols, "BW average"), col(cols, "MsgRate")
    unit_gbit = "Gb/sec" in cols[avg_i]
    best = None
    for r in rows:
        size, avg, rate = int(r[0]), r[avg_i], r[rate_i]
        gbps = avg if unit_gbit else avg * MIB * 8 / GBIT
        if burst_ok and gbps >= MAX_GBPS:
            print(f"note: {size} B: {gbps:.0f} Gb/s at the receiver: messages arrived queued, in one burst")
        elif not 0 < gbps < MAX_GBPS:
            errors.append(f"{size} B: BW average {avg} is not in (0, {MAX_GBPS:g} Gb/s)")
        if not rate > 0:
            errors.append(f"{size} B: message rate {rate} is not > 0")
        if best is None or gbps > best[1]:
            best = (size, gbps, avg, rate)
    if len(rows) == 1:
        size, gbps, avg, rate = best
        return f"{size} B: avg {avg:.2f} MB/s ({gbps:.3f} Gb/s), {rate:.6f} Mpps"
    size, gbps, avg, _ = best
    first, last = int(rows[0][0]), int(rows[-1][0])
    return f"{first}..{last} B ({len(rows)} sizes): best avg {avg:.2f} MB/s ({gbps:.3f} Gb/s) at {size} B"


def check_lat(cols, rows, errors):
    summary = []
    if any(c.startswith("t_typical") for c in cols):
        min_i, typ_i, avg_i = col(cols, "t_min"), col(cols, "t_typical"), col(cols, "t_avg")
        for r in rows:
            size, tmin, typ, avg = int(r[0]), r[min_i], r[typ_i], r[avg_i]
            if not 0 < tmin <= typ:
                errors.append(f"{size} B: t_min {tmin} / t_typical {typ} implausible")
            for name, v in (("t_typical", typ), ("t_avg", avg)):
                if not 0 < v < MAX_LATENCY_US:
                    errors.append(f"{size} B: {name} {v} us is not in (0, 1 s)")
            summary.append(f"{size} B: typ {typ:.2f} us, avg {avg:.2f} us")
    else:  # duration mode (-D): "t_avg[usec]  tps average"
        avg_i, tps_i = col(cols, "t_avg"), col(cols, "tps")
        for r in rows:
            size, avg, tps = int(r[0]), r[avg_i], r[tps_i]
            if not 0 < avg < MAX_LATENCY_US:
                errors.append(f"{size} B: t_avg {avg} us is not in (0, 1 s)")
            if not tps > 0:
                errors.append(f"{size} B: tps {tps} is not > 0")
            summary.append(f"{size} B: avg {avg:.2f} us, {tps:.0f} tps")
    if len(summary) > 3:
        return f"{summary[0]}; ... {summary[-1]} ({len(summary)} sizes)"
    return "; ".join(summary)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--optional", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--burst-ok", action="store_true")
    a = ap.parse_args()
    with open(a.log, errors="replace") as f:
        lines = f.read().splitlines()
    cols, rows = find_table(lines)
    label = a.label or a.log
    if not rows:
        if a.optional:
            print(f"RESULT {label}: (no table)")
            return 0
        print(f"{label}: no result table in {a.log}", file=sys.stderr)
        return 1
    errors = []
    if a.rows is not None and len(rows) != a.rows:
        errors.append(f"{len(rows)} result rows, expected {a.rows}")
    try:
        if any(c.startswith("BW average") for c in cols):
            summary = check_bw(cols, rows, errors, a.burst_ok)
        elif any(c.startswith("t_avg") for c in cols):
            summary = check_lat(cols, rows, errors)
        else:
            errors.append(f"unknown table header {cols}")
            summary = ""
    except (KeyError, IndexError) as e:
        errors.append(f"table does not have the expected columns ({e}): {cols}")
        summary = ""
    if errors:
        for e in errors:
            print(f"{label}: {e}", file=sys.stderr)
        return 1
    print(f"RESULT {label}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
