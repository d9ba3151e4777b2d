#!/usr/bin/env python3
"""The shipped monitoring files, checked without a daemon:

- etc/prometheus/l4lb-rules.yml passes `promtool check rules`, and its unit tests
  (etc/prometheus/l4lb-rules.test.yml, each alert firing and not firing) pass `promtool test
  rules`; a rule changed on purpose makes them fail, so they do test the rules;
- etc/grafana/l4lb.json is a dashboard Grafana can import: panels on a 24-column grid without
  overlaps, unique ids, every query on the `$datasource` variable, the variables it uses defined.
  (Grafana itself is not packaged in Debian 12, so it is not run here; test_prometheus.py runs
  every dashboard query on a real Prometheus.)

No privileges needed; it sits with the netns tests because it shares their Prometheus."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.environ.get("L4LB_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROM_DIR = os.path.join(SOURCE, "etc", "prometheus")
DASHBOARD = os.path.join(SOURCE, "etc", "grafana", "l4lb.json")


def promtool(*args, cwd=None):
    exe = shutil.which("promtool")
    if exe is None:
        raise RuntimeError("promtool missing (Debian package prometheus, scripts/apt-packages.txt)")
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


class Rules(unittest.TestCase):
    def test_check_rules(self):
        r = promtool("check", "rules", os.path.join(PROM_DIR, "l4lb-rules.yml"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_rule_unit_tests_pass(self):
        r = promtool("test", "rules", "l4lb-rules.test.yml", cwd=PROM_DIR)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_rule_unit_tests_catch_a_broken_rule(self):
        # Split brain at "> 0" (any holder) and the VIP rules' `for:` dropped: the unit tests must
        # notice both the extra alerts and the missing pending phase.
        with open(os.path.join(PROM_DIR, "l4lb-rules.yml")) as f:
            rules = f.read()
        broken = rules.replace("sum by (vip) (l4lb_vip_master) > 1", "sum by (vip) (l4lb_vip_master) > 0")
        self.assertNotEqual(broken, rules)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "l4lb-rules.yml"), "w") as f:
                f.write(broken)
            shutil.copy(os.path.join(PROM_DIR, "l4lb-rules.test.yml"), tmp)
            r = promtool("test", "rules", "l4lb-rules.test.yml", cwd=tmp)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("L4lbVipSplitBrain", r.stdout + r.stderr)

    def test_every_alert_has_a_unit_test(self):
        with open(os.path.join(PROM_DIR, "l4lb-rules.yml")) as f:
            alerts = set(re.findall(r"(?m)^\s*- alert:\s*(\S+)", f.read()))
        with open(os.path.join(PROM_DIR, "l4lb-rules.test.yml")) as f:
            tested = f.read()
        self.assertGreaterEqual(len(alerts), 8)
        untested = {a for a in alerts
                    if not re.search(rf"alertname: {a}\n\s*exp_alerts:\n\s*- exp_labels", tested)}
        self.assertEqual(untested, set(), "alerts never shown firing in l4lb-rules.test.yml")


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.d = json.load(f)

    def test_datasource_variable_and_template_variables(self):
        variables = {v["name"]: v for v in self.d["templating"]["list"]}
        ds = variables["datasource"]
        self.assertEqual((ds["type"], ds["query"]), ("datasource", "prometheus"))
        used = set()
        for p in self.d["panels"]:
            for t in p.get("targets", []):
                used |= set(re.findall(r"\$(\w+)", t["expr"]))
        for v in variables.values():
            if v["type"] == "query":
                used |= set(re.findall(r"\$(\w+)", v["definition"]))
        builtin = {"__rate_interval", "__interval", "__range"}
        self.assertEqual(used - builtin - set(variables), set(), "variables used but not defined")
        self.assertIn("job", used)
        self.assertIn("instance", used)

    def test_panels_grid_ids_and_targets(self):
        panels = self.d["panels"]
        self.assertGreater(len(panels), 20)
        ids = [p["id"] for p in panels]
        self.assertEqual(len(ids), len(set(ids)), "duplicate panel ids")
        cells = {}
        for p in panels:
            g = p["gridPos"]
            self.assertTrue(0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"])
            for dx in range(g["w"]):
                for dy in range(g["h"]):
                    cell = (g["x"] + dx, g["y"] + dy)
                    self.assertNotIn(cell, cells, f"{p['title']} overlaps {cells.get(cell)}")
                    cells[cell] = p["title"]
            if p["type"] == "row":
                continue
            self.assertIn(p["type"], {"timeseries", "state-timeline", "stat", "table"})
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"})
            self.assertTrue(p["targets"], p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"], p["datasource"])
                # l4lbd's own series, or its standard process_* ones (on the same $job).
                self.assertRegex(t["expr"], r"\b(l4lb_|process_)", p["title"])

    def test_covers_what_operators_look_at(self):
        exprs = " ".join(t["expr"] for p in self.d["panels"] for t in p.get("targets", []))
        for name in ("l4lb_vrrp_state", "l4lb_vip_master", "l4lb_vrrp_transitions_total",
                     "l4lb_ipvs_service_connections_total", "l4lb_ipvs_backend_connections_total",
                     "l4lb_ipvs_service_bytes_total", "l4lb_health_check_duration_seconds_bucket",
                     "l4lb_backend_up", "l4lb_reloads_total", "l4lb_ipvs_operations_total",
                     "l4lb_ipvs_operation_errors_total"):
            self.assertIn(name, exprs)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
    import testmain  # noqa: E402
    testmain.main()
