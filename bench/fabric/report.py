#!/usr/bin/env python3
"""Turn the runs bench/fabric/run left in DIR into DIR/table.txt (printed
too) and the plots DIR/incast.png, DIR/convergence.png, DIR/loss.png.

    report.py DIR

Each run is DIR/NAME/ with summary.json, goodput.csv and queue.csv, as
flexins-fabric --out writes them; NAME is incast.CC, convergence.CC,
loss.P (go-back-N) or loss_sr.P (selective repeat). Each loss rate with
both modes gets a line with the goodput ratio SR/GBN.
"""
import csv
import json
import sys
from pathlib import Path


def load(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    goodput = list(csv.DictReader((run_dir / "goodput.csv").open()))
    queue = list(csv.DictReader((run_dir / "queue.csv").open()))
    return summary, goodput, queue


ORDER = {"none": 0, "dcqcn": 1, "swift": 2}


def runs(out, prefix):
    """(label, summary, goodput rows, queue rows) for each DIR/PREFIX.LABEL:
    policies in the order none, dcqcn, swift, then others; loss rates in
    increasing order."""
    found = []
    for d in out.iterdir():
        if d.is_dir() and d.name.startswith(prefix + ".") and (d / "summary.json").exists():
            found.append((d.name[len(prefix) + 1:], *load(d)))

    def key(run):
        label = run[0]
        try:
            return (0, float(label), "")
        except ValueError:
            return (1, ORDER.get(label, len(ORDER)), label)
    return sorted(found, key=key)


def policy_name(s):
    # "dcqcn,line_rate_bps=..." -> "dcqcn"
    return s["cc"].split(",")[0] or "(none)"


def us(ns):
    return "-" if ns < 0 else f"{ns / 1000:.0f} us"


def row(kind, label, s):
    counters = s["counters"]
    total = sum(f["bytes_total"] for f in s["flows"])
    verified = sum(f["verified_bytes"] for f in s["flows"])
    conv = ""
    if kind == "convergence":
        conv = f"{us(s['join_convergence_ns'])} / {us(s['leave_convergence_ns'])}"
    return [
        f"{kind} {label}",
        f"{s['goodput_last_half_bps'] / 1e9:.2f}",
        f"{100 * s['goodput_last_half_bps'] / s['best_goodput_bps']:.0f} %",
        f"{s['jain_last_half']:.3f}" if kind == "incast" else "",
        f"{s['max_queue_bytes'] / 1024:.0f} / {s['max_queue_last_half_bytes'] / 1024:.0f}",
        f"{s['tail_drops']} / {s['tail_drops_last_half']}",
        str(s["random_losses"]),
        str(s["marks"]),
        str(counters["retransmitted_packets"]),
        str(counters["retransmit_timeouts"]),
        conv,
        ("yes" if s["data_intact"] else "NO") + f" ({verified >> 20} MiB)" if total else "no data",
        "yes" if s.get("cc_policies_created", 0) else "no",
    ]


HEADER = ["experiment", "goodput Gb/s", "of best", "Jain", "max queue KiB (all / 2nd half)",
          "tail drops (all / 2nd half)", "losses", "ECN marks", "retx pkts", "timeouts",
          "converge join / leave", "data intact", "cc in use"]


def render(rows):
    widths = [max(len(r[i]) for r in [HEADER] + rows) for i in range(len(HEADER))]
    line = lambda r: " | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(HEADER), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows])


def plot_group(plt, title, group, path, queue=True):
    cols = len(group)
    fig, axes = plt.subplots(2 if queue else 1, cols, figsize=(5 * cols, 6.5 if queue else 3.5),
                             squeeze=False, sharex="col")
    for j, (label, s, goodput, q) in enumerate(group):
        ax = axes[0][j]
        t = [float(r["time_us"]) / 1000 for r in goodput]
        for key in goodput[0].keys():
            if key.startswith("flow"):
                ax.plot(t, [float(r[key]) for r in goodput], lw=0.8, label=key.replace("_gbps", ""))
        ax.set_title(f"{title}: {label}")
        ax.set_ylabel("goodput (Gb/s)")
        ax.grid(alpha=0.3)
        if len(goodput[0]) <= 6:
            ax.legend(fontsize=7)
        if queue:
            ax = axes[1][j]
            ax.plot([float(r["time_us"]) / 1000 for r in q], [int(r["queue_bytes"]) / 1024 for r in q], lw=0.6)
            ax.axhline(s["buffer_bytes"] / 1024, color="red", lw=0.6, ls="--", label="buffer")
            if s["kmax_bytes"] is not None:
                ax.axhline(s["kmax_bytes"] / 1024, color="orange", lw=0.6, ls=":", label="Kmax")
            ax.set_ylabel("bottleneck queue (KiB)")
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        axes[-1][j].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LR_NAME = {"go_back_n": "go-back-N", "selective_repeat": "selective repeat"}


def lr_name(s):
    # summary.json from before selective repeat has no "lr": go-back-N.
    return LR_NAME.get(s.get("lr", "go_back_n"), s.get("lr"))


def ratio_lines(loss, loss_sr):
    """One line per loss rate run with both modes: goodput SR/GBN."""
    gbn = {label: s for label, s, _, _ in loss}
    lines = []
    for label, sr, _, _ in loss_sr:
        if label not in gbn:
            continue
        g, r = gbn[label]["goodput_last_half_bps"], sr["goodput_last_half_bps"]
        ratio = f"{r / g:.2f}x" if g > 0 else "inf (go-back-N delivered nothing)"
        intact = "yes" if gbn[label]["data_intact"] and sr["data_intact"] else "NO"
        lines.append(f"loss {float(label) * 100:g} %: goodput go-back-N {g / 1e9:.2f} Gb/s, "
                     f"selective repeat {r / 1e9:.2f} Gb/s: SR/GBN {ratio}; "
                     f"retransmitted {gbn[label]['counters']['retransmitted_packets']} / "
                     f"{sr['counters']['retransmitted_packets']} packets; every byte intact in both: {intact}")
    return lines


def main():
    out = Path(sys.argv[1])
    incast = runs(out, "incast")
    convergence = runs(out, "convergence")
    loss = runs(out, "loss")
    loss_sr = runs(out, "loss_sr")
    rows = [row("incast", policy_name(s), s) for _, s, _, _ in incast]
    rows += [row("convergence", policy_name(s), s) for _, s, _, _ in convergence]
    for label, s, _, _ in sorted(loss + loss_sr, key=lambda r: float(r[0])):
        rows.append(row("loss", f"{float(label) * 100:g} % ({lr_name(s)})", s))
    meta = (out / "run.meta").read_text() if (out / "run.meta").exists() else ""
    first = (incast or convergence or loss)[0][1] if (incast or convergence or loss) else None
    lines = ["FlexiNS emulated fabric " + " ".join(meta.split())]
    if first:
        lines.append(
            f"bottleneck {first['rate_bps'] / 1e9:g} Gb/s, buffer {first['buffer_bytes'] // 1024} KiB, "
            f"ECN Kmin {first['kmin_bytes']} B Kmax {first['kmax_bytes']} B Pmax {first['pmax']}, "
            f"links {first['link_delay_ns']} ns, {first['op']} {first['msg_bytes']} B x {first['depth']}, "
            f"MTU {first['mtu']}; goodput and Jain over the last half of the run")
    lines += ["", render(rows), ""]
    lines += ratio_lines(loss, loss_sr)
    if any(not r[-1] == "yes" for r in rows if not r[0].startswith("loss")):
        lines.append("cc in use = no: the transport did not ask for a congestion controller "
                     "(Env::new_congestion_control), so that run behaved as cc=none.")
    text = "\n".join(lines) + "\n"
    (out / "table.txt").write_text(text)
    print(text, end="")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if incast:
        plot_group(plt, "incast", [(policy_name(s), s, g, q) for _, s, g, q in incast], out / "incast.png")
    if convergence:
        plot_group(plt, "convergence", [(policy_name(s), s, g, q) for _, s, g, q in convergence],
                   out / "convergence.png")
    if loss or loss_sr:
        group = sorted(loss + loss_sr, key=lambda r: float(r[0]))
        plot_group(plt, "loss", [(f"{float(label) * 100:g} % random loss, {lr_name(s)}", s, g, q)
                                 for label, s, g, q in group], out / "loss.png", queue=False)
    print(f"plots: {', '.join(p.name for p in sorted(out.glob('*.png')))} in {out}")


if __name__ == "__main__":
    main()
