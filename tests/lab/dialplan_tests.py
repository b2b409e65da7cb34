#!/usr/bin/env python3
"""sipferry lab: dialplans and config reload (a mixin for the lab runner, tests/lab/run).

  reload_broken_dialplan_refused  the lab runs from a staged copy of its config and dialplans
                    (tools/lab up: /run/sipferry-lab/stage); the test breaks the staged default
                    dialplan (a syntax error at a known line) and reloads: the reload is refused with
                    the file and line in the answer and the daemon's log, stats calls.reloads is
                    unchanged and calls.reloads_refused + 1; a call alice -> bob is still routed by
                    the old dialplan; the fixed file reloads fine (calls.reloads + 1)
"""
import json
import os
import re

DIALPLAN_TESTS = ["reload_broken_dialplan_refused"]
STAGED_DEFAULT = "/run/sipferry-lab/stage/lua/dialplans/lab_default.lua"
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token
DAEMON_LOG = "/run/sipferry-lab/sipferry.log"


class DialplanTests:
    """Lab tests of dialplans and reload; mixed into the runner class of tests/lab/run."""

    def _calls_stats(self):
        r = self._ctl(["stats"])
        try:
            return json.loads(r.stdout)["calls"]
        except (ValueError, KeyError) as e:
            self._fail(f"sipferryctl stats: {e}: {(r.stdout + r.stderr)[:300]}")

    def test_reload_broken_dialplan_refused(self, tdir):
        if not os.path.isfile(STAGED_DEFAULT):
            self._fail(f"{STAGED_DEFAULT} missing: tools/lab up stages the config only when "
                       "SIPFERRY_LAB_CONFIG is unset")
        original = open(STAGED_DEFAULT).read()
        broken_line = original.count("\n") + 2
        before = self._calls_stats()
        errs = []
        try:
            with open(STAGED_DEFAULT, "w") as f:
                f.write(original + "\nif then\n")  # a syntax error on line broken_line
            r = self._ctl(["reload"], token=TOKEN)
            answer = (r.stdout + r.stderr).strip()
            self._progress(f"reload of the broken dialplan: exit {r.returncode} {answer[:200]}")
            if r.returncode == 0 or '"reloaded":false' not in answer.replace(" ", ""):
                errs.append(f"the broken dialplan was not refused: exit {r.returncode} {answer[:300]}")
            if not re.search(rf"lab_default\.lua:{broken_line}:", answer):
                errs.append(f"the refusal does not name lab_default.lua:{broken_line}: {answer[:300]}")
            log = open(DAEMON_LOG, errors="replace").read()
            if not re.search(rf"reload refused: .*lab_default\.lua:{broken_line}:", log):
                errs.append("the daemon's log has no 'reload refused' line naming the file and line")
            mid = self._calls_stats()
            if mid.get("reloads") != before.get("reloads") or \
                    mid.get("reloads_refused") != before.get("reloads_refused", 0) + 1:
                errs.append(f"stats after the refusal: reloads {before.get('reloads')} -> {mid.get('reloads')}, "
                            f"reloads_refused {before.get('reloads_refused')} -> {mid.get('reloads_refused')}")

            # The old dialplan still routes: alice -> bob completes with RTP both ways.
            count = 50
            problems, excerpts = self._alice_calls_bob(tdir, count)
            if problems:
                errs.append("the call after the refused reload failed: " + "; ".join(problems) + "\n" + excerpts)
            else:
                for who in ("alice", "bob"):
                    got = self._report(tdir, who)["received"]
                    if got != count:
                        errs.append(f"{who} received {got}/{count} RTP packets after the refused reload")
        finally:
            with open(STAGED_DEFAULT, "w") as f:
                f.write(original)
        r = self._ctl(["reload"], token=TOKEN)
        after = self._calls_stats()
        self._progress(f"reload of the fixed dialplan: exit {r.returncode}; reloads "
                       f"{before.get('reloads')} -> {after.get('reloads')}")
        if r.returncode != 0 or after.get("reloads") != before.get("reloads", 0) + 1:
            errs.append(f"the fixed dialplan did not reload: exit {r.returncode} {(r.stdout + r.stderr)[:300]}")
        if errs:
            self._fail("; ".join(errs))
