#!/usr/bin/env python3
"""Tests for bench's parsers and report on outputs captured from a real
`bench/run --quick` (bench/testdata/raw; the 1024-QP logs are cut short).
No timing is tested here: only that figures are read and compared right.

    python3 bench/test_bench.py      (ctest: bench_report)
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import parsers  # noqa: E402
import report  # noqa: E402
import table  # noqa: E402

RAW = HERE / "testdata" / "raw"
MIB = 1 << 20


def sample(name):
    return (RAW / name).read_text()


class PerftestTest(unittest.TestCase):
    def test_bw_reads_average_and_rate(self):
        # " 65536  8900  0.00  555.87  0.008894" in the sample
        fig = parsers.perftest_bw(sample("fx.ib_write_bw.65536.client.log"))
        row = [line for line in sample("fx.ib_write_bw.65536.client.log").splitlines()
               if line.strip().startswith("65536")][0].split()
        self.assertEqual(fig["size"], 65536)
        self.assertAlmostEqual(fig["gbytes_per_s"], float(row[3]) * MIB / 1e9)
        self.assertEqual(fig["mpps"], float(row[4]))

    def test_lat_reads_median_and_p99(self):
        fig = parsers.perftest_lat(sample("fx.ib_write_lat.2.client.log"))
        self.assertEqual((fig["size"], fig["iterations"]), (2, 1000))
        self.assertEqual(fig["median_us"], 140.03)  # t_typical
        self.assertEqual(fig["p99_us"], 9156.70)     # 99% percentile, not 99.9%
        self.assertEqual(fig["avg_us"], 1868.27)

    def test_failed_run_has_no_table(self):
        with self.assertRaisesRegex(ValueError, "no perftest result table"):
            parsers.perftest_bw(sample("fx.ib_write_bw.65536.q1024.client.log"))


class PeersTest(unittest.TestCase):
    def test_iperf3_receiver_rate(self):
        fig = parsers.iperf3(sample("peer.iperf3.65536.client.log"))
        obj = json.loads(sample("peer.iperf3.65536.client.log"))
        self.assertAlmostEqual(fig["gbytes_per_s"], obj["end"]["sum_received"]["bits_per_second"] / 8e9)
        self.assertEqual(fig["bytes"], obj["end"]["sum_received"]["bytes"])

    def test_iperf3_error_is_reported(self):
        with self.assertRaisesRegex(ValueError, "unable to connect"):
            parsers.iperf3('{"start": {}, "error": "unable to connect to server"}')

    def test_sockperf_throughput_sent_and_received(self):
        fig = parsers.sockperf_throughput(sample("peer.sockperf_udp_tp.64.client.log"),
                                          sample("peer.sockperf_udp_tp.64.server.log"))
        self.assertAlmostEqual(fig["mpps"], fig["sent"] / fig["seconds"] / 1e6, delta=0.01)
        self.assertEqual(fig["received"], 67951)
        self.assertLessEqual(fig["received"], fig["sent"])

    def test_sockperf_pingpong_percentiles(self):
        fig = parsers.sockperf_pingpong(sample("peer.sockperf_tcp_pp.14.client.log"))
        text = sample("peer.sockperf_tcp_pp.14.client.log")
        self.assertIn(f"percentile 50.000 = {fig['median_us']:8.3f}", text)
        self.assertIn(f"percentile 99.000 = {fig['p99_us']:8.3f}", text)

    def test_sockperf_without_summary_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "message rate"):
            parsers.sockperf_throughput("sockperf: Test ended\n")

    def test_memcpy(self):
        self.assertGreater(parsers.memcpy_bw(sample("peer.memcpy.client.log"))["gbytes_per_s"], 0)

    def test_key_values(self):
        kv = parsers.key_values("utime=35 stime=1\nreason=client: a=b failed\nload_before=1.0 2.0 3.0\n")
        self.assertEqual(kv, {"utime": "35", "stime": "1", "reason": "client: a=b failed",
                              "load_before": "1.0 2.0 3.0"})


class ReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.points = report.load_points(RAW)
        cls.run_meta = parsers.key_values(sample("run.meta"))
        rows, cls.footnotes = table.rows_for(cls.points, cls.run_meta)
        cls.rows = {r.figure: r for r in rows}

    def test_failed_point_keeps_reason_and_engine_counters(self):
        p = self.points["fx.ib_write_bw.65536.q1024"]
        self.assertEqual(p["status"], "failed")
        self.assertIn("Completion with error", p["reason"])
        self.assertIn("Failed status 12 (IBV_WC_RETRY_EXC_ERR)", p["reason"])
        self.assertIn("retransmitted_packets", p["reason"])
        self.assertGreater(p["engine_anon_peak_mib"], 0)  # memory measured even so

    def test_failed_figure_says_failed_with_reason(self):
        row = self.rows["ib_write_bw 64 KiB, 1024 QPs vs 1 QP"]
        self.assertEqual(row.flexins, "FAILED [1]")
        self.assertEqual(row.met, "?")
        self.assertTrue(self.footnotes[0].startswith("fx.ib_write_bw.65536.q1024: client: "))

    def test_ratio_and_target(self):
        fx = self.points["fx.ib_write_bw.65536"]["figures"]["gbytes_per_s"]
        peer = self.points["peer.iperf3.65536"]["figures"]["gbytes_per_s"]
        row = self.rows["ib_write_bw 64 KiB, 1 QP vs iperf3 TCP -l 64 KiB"]
        self.assertAlmostEqual(row.ratio, fx / peer)
        self.assertEqual(row.met, "yes" if fx / peer >= 1.0 else "NO")

    def test_latency_target_is_lower_is_better(self):
        row = self.rows["ib_write_lat 2 B median vs sockperf TCP ping-pong 14 B"]
        self.assertEqual(row.target, "≤ 1×")
        self.assertEqual(row.met, "yes" if row.ratio <= 1.0 else "NO")

    def test_latency_beside_one_hop_with_both_cpus_busy(self):
        # The UDP ping-pong between FIFO processes while busy loops hold both
        # CPUs: the same percentiles as sockperf's idle ping-pong, a row of its own.
        busy = parsers.sockperf_pingpong(sample("peer.sockperf_udp_pp_busy.14.client.log"))
        self.assertEqual(self.points["peer.sockperf_udp_pp_busy.14"]["figures"]["median_us"], busy["median_us"])
        row = self.rows["ib_write_lat 2 B median vs sockperf UDP ping-pong 14 B, FIFO, both CPUs busy (one hop)"]
        fx = self.points["fx.ib_write_lat.2"]["figures"]["median_us"]
        self.assertAlmostEqual(row.ratio, fx / busy["median_us"])
        self.assertEqual(row.target, "")

    def test_legend_says_where_the_applications_ran(self):
        for apps, says in (("crossed", "on the other host's CPU"), ("beside", "beside its engine"),
                           (None, "wherever the scheduler puts them")):  # runs before --apps
            run = {"pin": "0,1"} | ({"apps": apps} if apps else {})
            self.assertIn(says, table.render([], [], run).replace("\n", " "))

    def test_peer_cpu_is_the_peer_point_s_cpu_per_unit(self):
        p = self.points["peer.iperf3.65536"]
        row = self.rows["ib_write_bw 64 KiB, 1 QP vs iperf3 TCP -l 64 KiB"]
        self.assertEqual(row.peer_cpu, f"{table.num(p['app_cpu_s'] / p['units'])} s/GB")

    def test_cpu_per_gb_uses_engine_counters(self):
        p = self.points["fx.ib_write_bw.65536"]
        a = json.loads(sample("fx.ib_write_bw.65536.stat.a.json"))
        self.assertEqual(p["unit"], "GB")
        self.assertAlmostEqual(p["units"], a["tx_bytes"] / 1e9)  # the client's engine sends the data
        meta = parsers.key_values(sample("fx.ib_write_bw.65536.meta"))
        self.assertAlmostEqual(p["engine_cpu_s"],
                               (int(meta["engine_ticks_a"]) + int(meta["engine_ticks_b"])) / 100)

    def test_64_byte_points_count_messages(self):
        p = self.points["fx.ib_write_bw.64"]
        a = json.loads(sample("fx.ib_write_bw.64.stat.a.json"))
        self.assertEqual(p["unit"], "Mmsg")
        self.assertAlmostEqual(p["units"], a["tx_packets"] / 1e6)

    def test_no_tx_copy_row(self):
        self.assertEqual(self.rows["payload bytes the engine copied on transmit (all FlexiNS points)"].met, "yes")

    def test_ablation_not_available(self):
        self.assertEqual(self.rows["ablation (gain of each technique)"].flexins, "n/a (engine has no --ablate)")

    def test_report_writes_json_table_and_chart(self):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "raw").symlink_to(RAW)
            out = subprocess.run([sys.executable, str(HERE / "report.py"), d], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("FAILED [1]", out.stdout)
            results = json.loads((Path(d) / "results.json").read_text())
            self.assertEqual(results["points"]["fx.ib_write_bw.65536.q1024"]["status"], "failed")
            self.assertTrue((Path(d) / "bandwidth.png").read_bytes().startswith(b"\x89PNG"))


class AblationTableTest(unittest.TestCase):
    def test_gain_per_technique_including_rx_rings_at_256_qps(self):
        def bw(gbps):
            return {"status": "ok", "reason": "", "figures": {"gbytes_per_s": gbps}, "tx_payload_bytes_copied": 0}
        points = {"fx.ib_write_bw.65536": bw(2.0), "abl.tx-copy.ib_write_bw.65536": bw(1.6),
                  "fx.ib_write_bw.65536.q256": bw(1.5), "abl.rx-per-qp.ib_write_bw.65536.q256": bw(0.5)}
        rows, _ = table.rows_for(points, {"ablate_supported": "1"})
        rows = {r.figure: r for r in rows}
        self.assertAlmostEqual(rows["ablation tx-copy (TX copies payload): ib_write_bw 64 KiB, full vs naive"].ratio,
                               2.0 / 1.6)
        self.assertAlmostEqual(
            rows["ablation rx-per-qp (RX per-QP buffer rings): ib_write_bw 64 KiB 256 QPs, full vs naive"].ratio, 3.0)

    def test_gain_is_against_the_full_design_run_beside_the_naive_one(self):
        def bw(gbps):
            return {"status": "ok", "reason": "", "figures": {"gbytes_per_s": gbps}, "tx_payload_bytes_copied": 0}
        points = {"fx.ib_write_bw.65536": bw(2.0), "ablfull.tx-copy.ib_write_bw.65536": bw(3.0),
                  "abl.tx-copy.ib_write_bw.65536": bw(1.5)}
        rows, _ = table.rows_for(points, {"ablate_supported": "1"})
        rows = {r.figure: r for r in rows}
        self.assertAlmostEqual(rows["ablation tx-copy (TX copies payload): ib_write_bw 64 KiB, full vs naive"].ratio,
                               3.0 / 1.5)

    def test_with_repeats_the_gain_is_the_median_of_each_pass_s_gain(self):
        # Pass 2 ran slow for both: median/median would say 2.4 / 2.6 < 1,
        # the passes' own gains say 1.17, 0.90, 1.13.
        def run(gbps):
            return {"status": "ok", "reason": "", "figures": {"gbytes_per_s": gbps}, "tx_payload_bytes_copied": 0}
        runs = {}
        for k, (full, naive) in enumerate([(3.3, 2.83), (2.36, 2.62), (2.33, 2.06)], 1):
            suffix = f"~{k}" if k > 1 else ""
            runs[f"ablfull.rx-per-qp.ib_write_bw.65536.q256{suffix}"] = run(full)
            runs[f"abl.rx-per-qp.ib_write_bw.65536.q256{suffix}"] = run(naive)
        rows, _ = table.rows_for(report._median_runs(runs), {"ablate_supported": "1"})
        row = {r.figure: r for r in rows}[
            "ablation rx-per-qp (RX per-QP buffer rings): ib_write_bw 64 KiB 256 QPs, full vs naive"]
        self.assertAlmostEqual(row.ratio, 2.33 / 2.06)
        self.assertEqual((row.flexins, row.peer), ("2.36 GB/s", "2.62 GB/s"))  # the medians, as shown

    def test_full_design_runs_beside_ablations_count_for_zero_copy(self):
        def ok(copied):
            return {"status": "ok", "reason": "", "figures": {"mpps": 1.0}, "tx_payload_bytes_copied": copied}
        points = {"fx.ib_write_bw.64": ok(0), "ablfull.tx-copy.ib_write_bw.64": ok(64)}
        rows, _ = table.rows_for(points, {})
        row = {r.figure: r for r in rows}["payload bytes the engine copied on transmit (all FlexiNS points)"]
        self.assertEqual((row.flexins, row.met), ("64 B", "NO"))


class RepeatTest(unittest.TestCase):
    def test_median_run_is_reported_and_failures_counted(self):
        def ok(gbps):
            return {"status": "ok", "reason": "", "figures": {"gbytes_per_s": gbps}}
        runs = {"fx.a": ok(3.0), "fx.a~2": ok(1.0), "fx.a~3": {"status": "failed", "reason": "boom"},
                "fx.a~4": ok(2.0), "fx.b": ok(5.0)}
        points = report._median_runs(runs)
        self.assertEqual(sorted(points), ["fx.a", "fx.b"])
        self.assertEqual(points["fx.a"]["figures"]["gbytes_per_s"], 2.0)
        self.assertEqual(points["fx.a"]["repeats"], {"runs": 4, "failed": 1, "failed_reasons": ["boom"]})
        self.assertNotIn("repeats", points["fx.b"])
        b = table.Builder(points)
        self.assertEqual(b.cell("fx.a", "gbytes_per_s", table.gbs), ("2 GB/s (1/4 FAILED [1])", 2.0))
        self.assertEqual(b.footnotes, ["fx.a, 1 of 4 runs: boom"])

    def test_later_runs_parse_like_the_first(self):
        # Pass 2 of --repeat names its runs NAME~2: peers and FlexiNS alike.
        for name in ("peer.iperf3.65536", "peer.memcpy", "fx.ib_write_bw.65536"):
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / f"{name}~2.client.log").write_text(sample(f"{name}.client.log"))
                self.assertEqual(report._figures(f"{name}~2", Path(d)), report._figures(name, RAW), name)

    def test_all_runs_failed(self):
        points = report._median_runs({"fx.a": {"status": "failed", "reason": "x"},
                                      "fx.a~2": {"status": "failed", "reason": "y"}})
        self.assertEqual(points["fx.a"]["status"], "failed")
        self.assertEqual(points["fx.a"]["repeats"]["failed"], 2)
        b = table.Builder(points)
        self.assertEqual(b.cell("fx.a", "gbytes_per_s", table.gbs), ("FAILED [1]", None))
        self.assertEqual(b.footnotes, ["fx.a (all 2 runs failed; the first:): x"])


class CpuOfTest(unittest.TestCase):
    def test_counts_the_time_of_waited_children(self):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "x.cpu"
            # A child (timeout) whose child (bash) burns CPU: the time climbs up.
            status = subprocess.run([str(HERE / "cpu_of.sh"), str(out), "timeout", "30", "bash", "-c",
                                     "i=0; while ((i < 200000)); do ((i++)); done; exit 3"]).returncode
            self.assertEqual(status, 3)
            kv = parsers.key_values(out.read_text())
            self.assertGreater(int(kv["utime"]) + int(kv["stime"]), 0)


if __name__ == "__main__":
    unittest.main()
