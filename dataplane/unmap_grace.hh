#pragma once
/// @file
/// Unmaps on the EAL interrupt thread wait until every polling lcore has finished the burst it
/// was in.
///
/// Why: DPDK 22.11's net_memif handles a peer's disconnect on the EAL interrupt thread. It clears
/// the port's connected flag and then unmaps the shared rings, with no handshake with an lcore
/// polling that port. A worker between its flag test and its ring read then reads unmapped
/// memory (SIGSEGV; seen 20 times in one evening of the system benchmark). The workers already
/// report an RCU quiescent state between bursts, outside every driver call (the relay table's
/// rte_rcu_qsbr). So this file interposes munmap: on the interrupt thread it first waits one
/// grace period of those readers. After it, no worker is still inside a burst that began before
/// the flag was cleared, and every later burst sees the flag cleared. Unmaps on any other thread
/// go straight to the kernel.
///
/// The interposition works because the executable's munmap comes first in the global symbol
/// scope, which the dlopen'ed drivers resolve through; glibc's own internal unmaps (malloc) do
/// not go through it. Not built under AddressSanitizer, whose runtime interposes munmap itself.

struct rte_rcu_qsbr;

namespace sf::dp {

/// The readers whose grace period an unmap on the interrupt thread waits for: the lcores that
/// poll ports, each reporting quiescent between bursts and going offline while it sleeps or
/// before it stops. nullptr (the default): no waiting. Set it before the workers start polling;
/// clear it before the variable is freed.
void set_unmap_grace(rte_rcu_qsbr* pollers);

/// One grace period of those readers, if any are set (what munmap does on the interrupt thread).
/// Never call it from a reader that is online: it would wait for itself.
void wait_for_pollers();

}  // namespace sf::dp
