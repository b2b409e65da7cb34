#!/usr/bin/env python3
"""sipferry lab: the appliance announces its addresses (a mixin for the lab runner, tests/lab/run).

  gratuitous_arp_announces  In sf-alice and sf-bob the test learns the appliance's MAC on that link
                            (one ping), turns on net.ipv4.conf.IF.arp_accept (so the kernel creates a
                            neighbour entry from a gratuitous ARP, which it ignores by default) and
                            deletes its entry for the appliance's address. `sipferryctl announce`
                            without the token is refused (401) and sends nothing; with it the answer
                            is {"announcing": 3} (the lab's three ports, no media addresses), and within
                            5 s both neighbours hold the appliance's address with the appliance's MAC,
                            learnt from the gratuitous ARP alone (nothing else was sent to them).
                            neighbours.arp_announced grows by 3, then by 6 once the second round
                            (2 s later, RFC 5227 2.3) has gone. arp_accept and the entries are put
                            back also on failure. Before all this, the start-up announcement
                            must have sent its two rounds (arp_announced >= 6).

Media addresses ([port.NAME] media_addresses) are announced the same way, one frame each, from the
same list the relay's port pools are made of (realm_info::addresses). The lab's config has none, so
that the other tests can expect RTP from the ports' own addresses; tests/control/
sip_transport_announce_test.cc announces a port with 100 of them on a real dataplane (net_pcap)
and finds each twice in the pcap file, paced at 64 frames per tick.
"""
import json
import re
import time

ARP_TESTS = ["gratuitous_arp_announces"]
LAB_TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public, lab only)
ANNOUNCE_WAIT = 5.0  # seconds for both neighbours to learn the address
SECOND_ROUND_WAIT = 6.0  # the second round is due 2 s after the first


class ArpTests:
    """Gratuitous ARP in the lab; mixed into the runner class of tests/lab/run (uses
    MoreTransferTests._ctl, ProviderTests._stats and the runner's _c, _fail, _progress)."""

    # (namespace, interface, the appliance's address on that link), from the lab's topology (tools/lab).
    def _arp_links(self):
        return (("sf-alice", "alice0", self._c("SBC_ACC")), ("sf-bob", "bob0", self._c("SBC_CORE")))

    def _neigh_mac(self, ns, ifc, addr):
        r = self.run(["ip", "-n", ns, "neigh", "show", addr, "dev", ifc], timeout=5)
        m = re.search(r"lladdr ([0-9a-f:]{17})", r.stdout)
        return m.group(1) if m else None

    def _arp_accept(self, ns, ifc, value=None):
        key = f"net.ipv4.conf.{ifc}.arp_accept"
        if value is None:
            r = self.run(["ip", "netns", "exec", ns, "sysctl", "-n", key], timeout=5)
            return r.stdout.strip()
        self.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"], timeout=5)
        return value

    def _announced(self):
        return int(self._stats().get("neighbours", {}).get("arp_announced", -1))

    def test_gratuitous_arp_announces(self, tdir):
        links = self._arp_links()
        macs, saved = {}, {}
        try:
            for ns, ifc, addr in links:
                self.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", addr], timeout=5)
                macs[ns] = self._neigh_mac(ns, ifc, addr)
                if macs[ns] is None:
                    self._fail(f"{ns}: no neighbour entry for the appliance's {addr} after a ping")
                saved[ns] = self._arp_accept(ns, ifc)
                self._arp_accept(ns, ifc, "1")
                self.run(["ip", "-n", ns, "neigh", "del", addr, "dev", ifc], timeout=5)
                if self._neigh_mac(ns, ifc, addr) is not None:
                    self._fail(f"{ns}: the entry for {addr} is still there after ip neigh del")
            self._progress(f"appliance MACs {macs}; entries deleted, arp_accept=1")

            # The start-up announcement (two rounds, 2 s apart) must be over before the counts are
            # compared, or its second round would be counted as this one's.
            deadline = time.monotonic() + SECOND_ROUND_WAIT
            before = self._announced()
            ports = len(self._stats().get("ports", {}))
            while before < 2 * ports and time.monotonic() < deadline:
                time.sleep(0.2)
                before = self._announced()
            if before < 2 * ports:
                self._fail(f"neighbours.arp_announced is {before}: the start-up announcement (two rounds of "
                           f"{ports}) did not happen")
            refused = self._ctl(["announce"])
            if refused.returncode == 0 or "401" not in refused.stdout + refused.stderr:
                self._fail(f"announce without the token was not refused with 401: exit {refused.returncode} "
                           f"{(refused.stdout + refused.stderr)[:300]!r}")
            if self._announced() != before:
                self._fail("announce without the token sent gratuitous ARPs")

            ports = len(self._stats().get("ports", {}))  # acc, core and the flood port (memif)
            r = self._ctl(["announce"], token=LAB_TOKEN)
            if r.returncode != 0:
                self._fail(f"sipferryctl announce: exit {r.returncode} {(r.stdout + r.stderr)[:300]!r}")
            try:
                answer = json.loads(r.stdout)
            except ValueError:
                self._fail(f"sipferryctl announce: not JSON: {r.stdout[:300]!r}")
            if answer != {"announcing": ports}:
                self._fail(f"announce answered {answer}, wanted {{'announcing': {ports}}} (one per port)")

            deadline = time.monotonic() + ANNOUNCE_WAIT
            learnt = {}
            while time.monotonic() < deadline and len(learnt) < len(links):
                for ns, ifc, addr in links:
                    mac = self._neigh_mac(ns, ifc, addr)
                    if mac is not None:
                        learnt[ns] = mac
                time.sleep(0.1)
            for ns, ifc, addr in links:
                if learnt.get(ns) != macs[ns]:
                    self._fail(f"{ns}: after the announcement {addr} is at {learnt.get(ns)}, wanted {macs[ns]}")
            first = self._announced() - before
            self._progress(f"neighbours learnt {learnt}; arp_announced +{first}")
            if first < ports:
                self._fail(f"arp_announced grew by {first}, wanted at least {ports}")

            deadline = time.monotonic() + SECOND_ROUND_WAIT
            total = first
            while time.monotonic() < deadline and total < 2 * ports:
                time.sleep(0.2)
                total = self._announced() - before
            if total != 2 * ports:
                self._fail(f"arp_announced grew by {total} in {SECOND_ROUND_WAIT:.0f} s, wanted {2 * ports} "
                           "(two rounds)")
        finally:
            for ns, ifc, addr in links:
                if ns in saved:
                    self._arp_accept(ns, ifc, saved[ns] or "0")
                    if ns in macs and macs[ns]:
                        # Leave a usable entry behind for the tests after this one.
                        self.run(["ip", "-n", ns, "neigh", "replace", addr, "lladdr", macs[ns], "dev", ifc,
                                  "nud", "stale"], timeout=5)
