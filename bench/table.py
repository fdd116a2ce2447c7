"""The one table bench/run prints: each FlexiNS figure beside the matching
peer figure, their ratio, the issue's target for that ratio, and what the
FlexiNS figure cost (engine and application CPU per unit of work, engine
memory)."""
import statistics
from dataclasses import dataclass

# Engine memory at 1024 QPs: the receive pool is fixed and per-QP state is
# small, so the engine's own memory (RssAnon) must not grow with QPs
# towards what per-QP buffer rings would cost (1024 x 64 KiB x depth).
RSS_1024_QPS_BOUND_MIB = 256

SIZES = {2: "2 B", 14: "14 B", 64: "64 B", 4096: "4 KiB", 65536: "64 KiB"}


@dataclass
class Row:
    figure: str
    flexins: str = ""
    peer: str = ""
    ratio: float | None = None
    target: str = ""
    met: str = ""
    engine_cpu: str = ""
    app_cpu: str = ""
    peer_cpu: str = ""
    engine_rss: str = ""

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items()}


class Builder:
    def __init__(self, points):
        self.points = points
        self.rows = []
        self.footnotes = []  # why a point failed, numbered from 1

    def failed(self, name):
        """'FAILED [n]', n numbering the point's reason among the footnotes."""
        p = self.points[name]
        rep = p.get("repeats")
        runs = f" (all {rep['runs']} runs failed; the first:)" if rep else ""
        note = f"{name}{runs}: {p['reason'] or 'failed'}"
        if note not in self.footnotes:
            self.footnotes.append(note)
        return f"FAILED [{self.footnotes.index(note) + 1}]"

    def ok(self, name):
        p = self.points.get(name)
        return p is not None and p["status"] == "ok"

    def cell(self, name, metric, fmt):
        """The formatted figure, or FAILED [n] / not run."""
        p = self.points.get(name)
        if p is None:
            return "not run", None
        if p["status"] != "ok":
            return self.failed(name), None
        if metric not in p["figures"]:
            return "n/a", None
        v = p["figures"][metric]
        return fmt(v) + self.failed_repeats(name), v

    def failed_repeats(self, name):
        """' (1/3 FAILED [n])' when some of the --repeat runs failed."""
        rep = self.points[name].get("repeats", {})
        if not rep.get("failed"):
            return ""
        note = f"{name}, {rep['failed']} of {rep['runs']} runs: {rep['failed_reasons'][0] or 'failed'}"
        if note not in self.footnotes:
            self.footnotes.append(note)
        return f" ({rep['failed']}/{rep['runs']} FAILED [{self.footnotes.index(note) + 1}])"

    def cost(self, row, name):
        p = self.points.get(name)
        if p is None or p["status"] != "ok" or not p.get("units"):
            return
        unit = p["unit"]
        if "engine_cpu_s" in p:
            row.engine_cpu = f"{num(p['engine_cpu_s'] / p['units'])} s/{unit}"
            row.engine_rss = f"{p['engine_hwm_mib']:.0f} MiB"
        row.app_cpu = f"{num(p['app_cpu_s'] / p['units'])} s/{unit}"

    def peer_cost(self, row, name):
        """The CPU the peer spent per unit of work: its processes' user and
        system time (on loopback the kernel's protocol work runs mostly in
        them), plus its engines' when the peer is a FlexiNS point."""
        p = self.points.get(name)
        if p is None or p["status"] != "ok" or not p.get("units"):
            return
        row.peer_cpu = f"{num((p['app_cpu_s'] + p.get('engine_cpu_s', 0)) / p['units'])} s/{p['unit']}"

    def compare(self, figure, fx, peer, metric, fmt, higher_better=True, target=None, peer_metric=None):
        """A row FlexiNS vs peer; none when neither point ran (--quick, --only)."""
        row = Row(figure)
        if fx not in self.points and peer not in self.points:
            return row
        row.flexins, a = self.cell(fx, metric, fmt)
        row.peer, b = self.cell(peer, peer_metric or metric, fmt)
        if a is not None and b:
            row.ratio = a / b
        if target is not None:
            row.target = f"{'≥' if higher_better else '≤'} {target:g}×"
            if row.ratio is not None:
                row.met = "yes" if (row.ratio >= target if higher_better else row.ratio <= target) else "NO"
            else:
                row.met = "?"
        self.cost(row, fx)
        self.peer_cost(row, peer)
        self.rows.append(row)
        return row


def num(v):
    """Three significant digits, never in exponent form."""
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def gbs(v):
    return f"{num(v)} GB/s"


def mpps(v):
    return f"{num(v)} Mpps"


def usec(v):
    return f"{num(v)} µs"


def rows_for(points, run):
    b = Builder(points)
    iperf, udp, pp = "peer.iperf3.", "peer.sockperf_udp_tp.", "peer.sockperf_tcp_pp."
    for tool in ("ib_write_bw", "ib_send_bw"):
        for size in (65536, 4096):
            t = 1.0 if (tool, size) == ("ib_write_bw", 65536) else None
            b.compare(f"{tool} {SIZES[size]}, 1 QP vs iperf3 TCP -l {SIZES[size]}",
                      f"fx.{tool}.{size}", f"{iperf}{size}", "gbytes_per_s", gbs, target=t)
        b.compare(f"{tool} 64 B rate vs sockperf UDP 64 B (sent)", f"fx.{tool}.64", f"{udp}64", "mpps", mpps,
                  target=1.0 if tool == "ib_write_bw" else None)
        if tool == "ib_write_bw":  # what the UDP receiver got (it drops what it cannot take)
            b.compare(f"{tool} 64 B rate vs sockperf UDP 64 B (received)", f"fx.{tool}.64", f"{udp}64",
                      "mpps", mpps, peer_metric="received_mpps")
    b.compare("ib_read_bw 64 KiB vs iperf3 TCP -l 64 KiB", "fx.ib_read_bw.65536", f"{iperf}65536",
              "gbytes_per_s", gbs)
    for tool in ("ib_write_lat", "ib_send_lat"):
        for size, peer_size in ((2, 14), (4096, 4096)):
            for metric, what in (("median_us", "median"), ("p99_us", "p99")):
                t = 1.0 if (tool, size, metric) == ("ib_write_lat", 2, "median_us") else None
                b.compare(f"{tool} {SIZES[size]} {what} vs sockperf TCP ping-pong {SIZES[peer_size]}",
                          f"fx.{tool}.{size}", f"{pp}{peer_size}", metric, usec, higher_better=False, target=t)
    # What this machine allows any design whose half round trip wakes one
    # process by a datagram while the applications busy-poll both CPUs.
    b.compare("ib_write_lat 2 B median vs sockperf UDP ping-pong 14 B, FIFO, both CPUs busy (one hop)",
              "fx.ib_write_lat.2", "peer.sockperf_udp_pp_busy.14", "median_us", usec, higher_better=False)
    one_qp = "fx.ib_write_bw.65536"
    for q in (16, 256, 1024):
        b.compare(f"ib_write_bw 64 KiB, {q} QPs vs 1 QP", f"{one_qp}.q{q}", one_qp, "gbytes_per_s", gbs,
                  target=0.9 if q == 1024 else None)
    memory_row(b, f"{one_qp}.q1024", one_qp)
    copy_row(b)
    b.compare("ib_write_bw 64 KiB vs memcpy 1 core (one-copy bound)", one_qp, "peer.memcpy", "gbytes_per_s", gbs)
    ablation_rows(b, run)
    return b.rows, b.footnotes


def memory_row(b, many, one):
    """Engine memory at 1024 QPs: its own (anonymous) memory, peak."""
    if many not in b.points and one not in b.points:
        return
    row = Row("engine memory (RssAnon peak) at 1024 QPs vs 1 QP")
    vals = []
    for name in (many, one):
        p = b.points.get(name)
        if p is None:
            vals.append(("not run", None))
        elif "engine_anon_peak_mib" in p:
            mib = p["engine_anon_peak_mib"]
            vals.append((f"{mib:.1f} MiB" + ("" if p["status"] == "ok" else f" (run {b.failed(name)})"), mib))
        elif p["status"] != "ok":
            vals.append((b.failed(name), None))
        else:
            vals.append(("not measured", None))
    (row.flexins, a), (row.peer, c) = vals
    if a is not None and c:
        row.ratio = a / c
    row.target = f"≤ {RSS_1024_QPS_BOUND_MIB} MiB"
    row.met = "?" if a is None else ("yes" if a <= RSS_1024_QPS_BOUND_MIB else "NO")
    p = b.points.get(many)
    if p and "engine_hwm_mib" in p:
        row.engine_rss = f"{p['engine_hwm_mib']:.0f} MiB"
    b.rows.append(row)


def copy_row(b):
    """tx_payload_bytes_copied over every full-design FlexiNS point."""
    row = Row("payload bytes the engine copied on transmit (all FlexiNS points)")
    ran = [p for n, p in b.points.items() if n.startswith(("fx.", "ablfull."))]
    if not ran:
        return
    ok = [p for p in ran if p["status"] == "ok"]
    if ok:
        total = sum(p["tx_payload_bytes_copied"] for p in ok)
        row.flexins = f"{total} B"
        row.met = "yes" if total == 0 else "NO"
    else:
        row.flexins, row.met = "no point succeeded", "?"
    row.target = "= 0"
    b.rows.append(row)


ABLATIONS = {
    "tx-copy": "TX copies payload",
    "rx-per-qp": "RX per-QP buffer rings",
    "doorbell-syscall": "syscall per post",
}


def ablation_rows(b, run):
    """Gain of the full design over each naive counterpart: full/ablated for
    bandwidth, ablated/full for latency (so > 1 means the technique helps).
    The full design's figure is its run right before the naive one
    (ablfull.X.CASE; runs before it had none: the FlexiNS point). The peer
    column holds the ablated figure."""
    if "ablate_supported" not in run:
        return  # not asked for (--only)
    if run.get("ablate_supported") == "0":
        b.rows.append(Row("ablation (gain of each technique)", flexins="n/a (engine has no --ablate)"))
        return
    for x, what in ABLATIONS.items():
        cases = [("ib_write_bw.65536", "gbytes_per_s", gbs), ("ib_write_bw.64", "mpps", mpps)]
        if x == "doorbell-syscall":
            cases.append(("ib_write_lat.2", "median_us", usec))
        if x == "rx-per-qp":  # where the rings outgrow the cache
            cases.append(("ib_write_bw.65536.q256", "gbytes_per_s", gbs))
        for case, metric, fmt in cases:
            abl = f"abl.{x}.{case}"
            if abl not in b.points:
                continue
            tool, size, *qps = case.split(".")
            at = f"{tool} {SIZES[int(size)]}" + "".join(f" {q[1:]} QPs" for q in qps)
            full = f"ablfull.{x}.{case}" if f"ablfull.{x}.{case}" in b.points else f"fx.{case}"
            row = b.compare(f"ablation {x} ({what}): {at}, full vs naive", full, abl, metric, fmt)
            paired = paired_ratio(b.points, full, abl, metric)
            if paired is not None:
                row.ratio = paired
            if row.ratio and metric == "median_us":
                row.ratio = 1 / row.ratio
            b.cost(row, abl)  # the naive variant's cost, beside the full design's figure
            row.peer_cpu = ""


def paired_ratio(points, full, naive, metric):
    """With bench/run --repeat, the median over passes of full/naive, each
    pass's naive run against the full design's run just before it: the
    machine's drift between passes then cancels out. None with fewer than
    two passes where both ran."""
    def by_pass(name):
        runs = points.get(name, {}).get("runs", [])
        return {r["pass"]: r["figures"][metric] for r in runs if r.get("status") == "ok" and "pass" in r}
    f, n = by_pass(full), by_pass(naive)
    ratios = [f[k] / n[k] for k in f.keys() & n.keys() if n[k]]
    return statistics.median(ratios) if len(ratios) >= 2 else None


# bench/run --apps: where the perftest applications ran.
APPS = {
    "crossed": "each perftest application on the other host's CPU (host A's client on B,\n"
               "host B's server on A), never beside its own engine.",
    "beside": "each perftest application on its own host's CPU, beside its engine.",
    "free": "the perftest applications run wherever the scheduler puts them.",
}

COLUMNS = ("figure", "FlexiNS", "peer", "ratio", "target", "met?", "engine CPU", "app CPU", "peer CPU",
           "engine RSS")


def render(rows, footnotes, run):
    cells = [COLUMNS]
    for r in rows:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
        cells.append((r.figure, r.flexins, r.peer, ratio, r.target, r.met, r.engine_cpu, r.app_cpu, r.peer_cpu,
                      r.engine_rss))
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    head = (f"FlexiNS bench {run.get('stamp', '')}  commit {run.get('commit', '?')}  {run.get('cpu', '')}"
            f" x{run.get('nproc', '?')}  load {run.get('load_before', '?')} -> {run.get('load_after', '?')}"
            f"{'  (--quick)' if run.get('quick') == '1' else ''}"
            f"{'  pinned to CPUs ' + run['pin'] if run.get('pin', 'none') != 'none' else ''}")
    foot = [f"[{i}] {n}" for i, n in enumerate(footnotes, 1)]
    legend = ("ratio = FlexiNS / peer; latency is half the round trip, lower is better. Ablation rows:\n"
              "gain of the full design (its run just before the naive one; with --repeat, the median of the\n"
              "passes' gains); their peer and CPU columns are the naive variant's. CPU: seconds per GB the\n"
              "engines sent, per million messages (Mmsg, 64 B) or round trips (Mrtt), set-up included;\n"
              "peer CPU: user and system time of the peer's processes per unit (on loopback the kernel's\n"
              "protocol work runs mostly in them), or of a FlexiNS peer's engines and applications.\n"
              "Engine RSS: peak VmHWM of one engine (counts the applications' registered memory it maps).")
    if run.get("pin", "none") != "none":
        legend += ("\nPinned to CPUs A,B: engine A's worker and each peer's client on A, engine B's worker and\n"
                   "each peer's server on B; " + APPS.get(run.get("apps", "free"), APPS["free"]))
    return "\n".join([head, ""] + lines + [""] + foot + [legend])
