#!/usr/bin/env python3
"""`sipferry --route` as an operator runs it: the built daemon, the lab's config and dialplans,
the requests of tests/control/lab_routes.jsonl; then a line it cannot read, on stdin, and
`--check`. No DPDK, no network.

  route_cli_test.py PATH/TO/sipferry PATH/TO/lab.conf PATH/TO/lab_routes.jsonl
"""
import json
import subprocess
import sys

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def main():
    exe, conf, requests = sys.argv[1:4]
    r = subprocess.run([exe, "--config", conf, "--route", requests], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"exit 0 for readable requests (got {r.returncode}: {r.stderr.strip()})")
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    check(len(rows) == 6, f"one answer per request ({len(rows)})")
    if len(rows) == 6:
        bob, fwd, trunk, nobody, refer, premium = rows
        check(bob["account"] == "lab-access" and bob["realm"] == "acc" and bob["plan"] == "default",
              f"alice's call: account lab-access on acc, plan default ({bob})")
        check(bob["decision"] == "dial" and bob["dial"] == "bob@198.51.100.20", f"bob is dialled ({bob.get('dial')})")
        check(fwd.get("dial") == "carol@198.51.100.30[rt=4]|bob@198.51.100.20[dv=no-answer,dh=both]",
              f"carol then bob, forwarded on no answer ({fwd.get('dial')})")
        t = trunk.get("targets", [{}])[0]
        check(t.get("provider") == "lab-trunk" and t.get("address") == "198.51.100.40:5060",
              f"trunk-X goes to the provider lab-trunk ({t})")
        check(nobody["decision"] == "respond" and nobody["code"] == 404, f"an unknown user gets 404 ({nobody})")
        check(refer["kind"] == "refer" and refer["plan"] == "transfer" and refer["policy"] == "allowed" and
              refer.get("dial") == "carol@198.51.100.30", f"bob's REFER to carol is allowed ({refer})")
        check(premium["policy"] != "allowed", f"a REFER to 0900 is refused by the [transfer] policy ({premium})")
    r = subprocess.run([exe, "--config", conf, "--route", "-"], input="{\"uri\": 5\n", capture_output=True,
                       text=True, timeout=60)
    row = json.loads(r.stdout.splitlines()[0]) if r.stdout.strip() else {}
    check(r.returncode == 1 and row.get("line") == 1 and "error" in row,
          f"a line it cannot read is named and the exit is 1 ({r.returncode}, {row})")
    r = subprocess.run([exe, "--config", conf, "--check"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "is valid" in r.stdout, f"--check passes the lab config ({r.stdout.strip()})")
    print(f"{len(FAILS)} failed", flush=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
