#!/usr/bin/env python3
"""Turn what bench/run left in DIR/raw into DIR/table.txt (printed too),
DIR/results.json and DIR/bandwidth.png.

    report.py DIR

Point names (fx.TOOL.SIZE[.qN], peer.KIND.SIZE, abl.X.TOOL.SIZE and the full
design's run beside it, ablfull.X.TOOL.SIZE) are the ones bench/run gives its
points; see bench/lib.sh for the files per point.
"""
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parsers  # noqa: E402
from table import rows_for, render  # noqa: E402

MIB = 1 << 20


def _read(path):
    return path.read_text(errors="replace") if path.exists() else ""


def _ticks(raw, name, side):
    kv = parsers.key_values(_read(raw / f"{name}.{side}.cpu"))
    return int(kv.get("utime", 0)) + int(kv.get("stime", 0))


def _stat(raw, name, side):
    text = _read(raw / f"{name}.stat.{side}.json")
    return json.loads(text) if text.strip() else {}


def _figures(name, raw):
    """The parsed figures of point NAME (ValueError if unparsable)."""
    client = _read(raw / f"{name}.client.log")
    kind = name.split("~")[0].split(".")  # NAME~k: run k of bench/run --repeat
    if kind[0] in ("fx", "abl", "ablfull"):
        tool = kind[1] if kind[0] == "fx" else kind[2]
        return parsers.perftest_lat(client) if tool.endswith("_lat") else parsers.perftest_bw(client)
    parse = {
        "iperf3": lambda: parsers.iperf3(client),
        "sockperf_udp_tp": lambda: parsers.sockperf_throughput(client, _read(raw / f"{name}.server.log")),
        "sockperf_tcp_pp": lambda: parsers.sockperf_pingpong(client),
        "sockperf_udp_pp_busy": lambda: parsers.sockperf_pingpong(client),
        "memcpy": lambda: parsers.memcpy_bw(client),
    }[kind[1]]
    return parse()


def _cost(name, fig, meta, raw):
    """CPU time per unit of work, engines and applications apart, and the
    engines' memory. The unit: GB the engines sent (their tx_bytes counter,
    over the same span as the CPU time) for bandwidth points; a million
    messages (Mmsg) for 64 B points (the sending engine's tx_packets: one per
    message); a million round trips (Mrtt) for latency points (perftest's -n).
    The span runs from just before the server starts to after both sides
    exit, so it includes connection set-up."""
    clk = int(meta.get("clk_tck", 100))
    out = {"app_cpu_s": (_ticks(raw, name, "server") + _ticks(raw, name, "client")) / clk}
    if name.startswith("peer."):
        if "bytes" in fig:
            out["unit"], out["units"] = "GB", fig["bytes"] / 1e9
        elif "sent" in fig:
            out["unit"], out["units"] = "Mmsg", fig["sent"] / 1e6
        elif "observations" in fig:
            out["unit"], out["units"] = "Mrtt", fig["observations"] / 1e6
        return out
    a, b = _stat(raw, name, "a"), _stat(raw, name, "b")
    out["engine_cpu_s"] = (int(meta.get("engine_ticks_a", 0)) + int(meta.get("engine_ticks_b", 0))) / clk
    out["tx_payload_bytes_copied"] = a.get("tx_payload_bytes_copied", 0) + b.get("tx_payload_bytes_copied", 0)
    out["retransmitted_packets"] = a.get("retransmitted_packets", 0) + b.get("retransmitted_packets", 0)
    out["tx_bytes"] = max(a.get("tx_bytes", 0), b.get("tx_bytes", 0))
    if "iterations" in fig:
        out["unit"], out["units"] = "Mrtt", fig["iterations"] / 1e6
    elif fig.get("size") == 64:
        out["unit"], out["units"] = "Mmsg", max(a.get("tx_packets", 0), b.get("tx_packets", 0)) / 1e6
    else:
        out["unit"], out["units"] = "GB", out["tx_bytes"] / 1e9
    out.update(_memory(raw, name))
    return out


def _memory(raw, name):
    """Peak memory of the busier engine (sampled by bench/lib.sh)."""
    rss = [parsers.key_values(_read(raw / f"{name}.rss.{s}")) for s in "ab"]
    if not any(rss):
        return {}
    return {"engine_hwm_mib": max(int(r.get("hwm_kb", 0)) for r in rss) / 1024,
            "engine_anon_peak_mib": max(int(r.get("anon_peak_kb", 0)) for r in rss) / 1024}


# enum ibv_wc_status (infiniband/verbs.h): perftest prints only the number.
WC_STATUS = {4: "IBV_WC_LOC_PROT_ERR", 5: "IBV_WC_WR_FLUSH_ERR", 9: "IBV_WC_REM_INV_REQ_ERR",
             10: "IBV_WC_REM_ACCESS_ERR", 11: "IBV_WC_REM_OP_ERR", 12: "IBV_WC_RETRY_EXC_ERR",
             13: "IBV_WC_RNR_RETRY_EXC_ERR"}


def _wc_status_names(reason):
    """'Failed status 12' -> 'Failed status 12 (IBV_WC_RETRY_EXC_ERR)'."""
    return re.sub(r"Failed status (\d+)",
                  lambda m: f"{m.group(0)} ({WC_STATUS.get(int(m.group(1)), 'unknown')})", reason)


def _engine_trouble(raw, name):
    """What the engines' counters say about a failed point, if anything."""
    a, b = _stat(raw, name, "a"), _stat(raw, name, "b")
    keys = ("retransmitted_packets", "retransmit_timeouts", "qp_errors", "rx_drop_no_recv_wqe")
    seen = [f"{a.get(k, 0) + b.get(k, 0)} {k}" for k in keys if a.get(k, 0) + b.get(k, 0)]
    return f" (engines: {', '.join(seen)})" if seen else ""


def load_points(raw):
    points = {}
    for meta_path in sorted(raw.glob("*.meta")):
        name = meta_path.name[: -len(".meta")]
        if name == "run":
            continue
        meta = parsers.key_values(meta_path.read_text())
        p = {"status": meta.get("status", "failed"), "reason": meta.get("reason", ""),
             "cmd": meta.get("cmd", ""), "engine_args": meta.get("engine_args", "")}
        if p["status"] == "ok":
            try:
                p["figures"] = _figures(name, raw)
                p.update(_cost(name, p["figures"], meta, raw))
            except (ValueError, KeyError, json.JSONDecodeError) as e:
                p["status"], p["reason"] = "failed", f"output not understood: {e}"
        elif name.startswith(("fx.", "abl.", "ablfull.")):
            p["reason"] = _wc_status_names(p["reason"]) + _engine_trouble(raw, name)
            p.update(_memory(raw, name))  # memory is still measured when the run fails
        points[name] = p
    return _median_runs(points)


def _median_runs(runs):
    """bench/run --repeat N names the runs NAME, NAME~2, ...: one point per
    NAME, the run with the median figure (so its CPU and memory go with it),
    the others kept under "runs"; failed runs are counted, not hidden."""
    groups = {}
    for name, p in runs.items():
        base, _, k = name.partition("~")
        p["pass"] = int(k) if k else 1
        groups.setdefault(base, []).append(p)
    points = {}
    for name, group in groups.items():
        if len(group) == 1:
            points[name] = group[0]
            continue
        ok = [p for p in group if p["status"] == "ok"]
        if ok:
            metric = "median_us" if "median_us" in ok[0]["figures"] else "gbytes_per_s"
            ok.sort(key=lambda p: p["figures"][metric])
            point = dict(ok[(len(ok) - 1) // 2])
        else:
            point = dict(group[0])
        failed = [p for p in group if p["status"] != "ok"]
        point["repeats"] = {"runs": len(group), "failed": len(failed),
                            "failed_reasons": [p["reason"] for p in failed]}
        point["runs"] = sorted(group, key=lambda p: p["pass"])
        points[name] = point
    return points


def chart(points, path):
    """Bandwidth against message size, FlexiNS and the peers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(prefix, metric="gbytes_per_s"):
        pts = sorted((int(name.rsplit(".", 1)[1]), p["figures"][metric]) for name, p in points.items()
                     if name.startswith(prefix) and p["status"] == "ok" and ".q" not in name
                     and metric in p["figures"])
        return [x for x, _ in pts], [y for _, y in pts]

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    # UDP: what the receiver got; the sender's figure counts datagrams the
    # receiving socket then dropped.
    for prefix, metric, label, style in (
        ("fx.ib_write_bw.", "gbytes_per_s", "FlexiNS ib_write_bw", "o-"),
        ("fx.ib_send_bw.", "gbytes_per_s", "FlexiNS ib_send_bw", "s-"),
        ("fx.ib_read_bw.", "gbytes_per_s", "FlexiNS ib_read_bw", "D"),
        ("peer.iperf3.", "gbytes_per_s", "kernel TCP (iperf3, 1 stream)", "^--"),
        ("peer.sockperf_udp_tp.", "received_gbytes_per_s", "kernel UDP (sockperf, received)", "v--"),
    ):
        xs, ys = series(prefix, metric)
        if xs:
            ax.plot(xs, ys, style, label=label)
    mc = points.get("peer.memcpy")
    if mc and mc["status"] == "ok":
        ax.axhline(mc["figures"]["gbytes_per_s"], color="grey", linestyle=":", label="memcpy, 1 core")
    ax.set_xscale("log", base=2)
    ax.set_xticks([64, 4096, 65536], ["64 B", "4 KiB", "64 KiB"])
    ax.set_yscale("log")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("GB/s (1e9 B/s)")
    ax.set_title("Bandwidth over loopback, one connection, 2-core machine")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    raw = out / "raw"
    run = parsers.key_values(_read(raw / "run.meta"))
    points = load_points(raw)
    rows, footnotes = rows_for(points, run)
    text = render(rows, footnotes, run)
    print(text)
    (out / "table.txt").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(
        {"run": run, "rows": [r.as_dict() for r in rows], "footnotes": footnotes, "points": points}, indent=1) + "\n")
    if any(p["status"] == "ok" and "gbytes_per_s" in p.get("figures", {}) for p in points.values()):
        chart(points, out / "bandwidth.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
