#include "relay_table.hh"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace sf::dp {

uint64_t pack_mac(const rte_ether_addr& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    return v | (uint64_t{1} << 48);
}

void unpack_mac(uint64_t packed, rte_ether_addr& out) {
    std::memcpy(out.addr_bytes, &packed, RTE_ETHER_ADDR_LEN);
}

namespace {

// Called by the hash's RCU defer queue once no reader can hold the side.
void free_side(void*, void* data) {
    delete static_cast<media_side*>(data);
}

}  // namespace

relay_table::relay_table(const char* name, uint32_t capacity, unsigned readers, int socket_id)
    : capacity_(capacity) {
    rte_hash_parameters params{};
    params.name = name;
    params.entries = capacity;
    params.key_len = sizeof(relay_key);
    params.hash_func = rte_hash_crc;
    params.hash_func_init_val = 0;
    params.socket_id = socket_id;
    // One writer (control), lock-free readers (workers).
    params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    hash_ = rte_hash_create(&params);
    if (hash_ == nullptr) {
        throw std::runtime_error(std::string("relay table: rte_hash_create failed: ") + rte_strerror(rte_errno));
    }

    const unsigned n = readers == 0 ? 1 : readers;
    const size_t sz = rte_rcu_qsbr_get_memsize(n);
    rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc_socket("relay_rcu", sz, RTE_CACHE_LINE_SIZE, socket_id));
    if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, n) != 0) {
        rte_hash_free(hash_);
        rte_free(rcu_);
        throw std::runtime_error("relay table: cannot set up RCU");
    }

    rte_hash_rcu_config rcfg{};
    rcfg.v = rcu_;
    rcfg.mode = RTE_HASH_QSBR_MODE_DQ;
    rcfg.free_key_data_func = free_side;
    rcfg.key_data_ptr = this;
    if (rte_hash_rcu_qsbr_add(hash_, &rcfg) != 0) {
        rte_hash_free(hash_);
        rte_free(rcu_);
        throw std::runtime_error("relay table: rte_hash_rcu_qsbr_add failed");
    }
}

relay_table::~relay_table() {
    // Workers are stopped by now: free what is still published.
    const void* key = nullptr;
    void* data = nullptr;
    uint32_t iter = 0;
    while (rte_hash_iterate(hash_, &key, &data, &iter) >= 0) {
        delete static_cast<media_side*>(data);
    }
    rte_hash_free(hash_);
    rte_free(rcu_);
}

bool relay_table::insert(media_side* side) {
    relay_key key{side->local_addr, side->local_port, 0};
    if (rte_hash_lookup(hash_, &key) >= 0) {
        return false;
    }
    if (rte_hash_add_key_data(hash_, &key, side) != 0) {
        return false;
    }
    ++published_;
    return true;
}

bool relay_table::remove(uint32_t addr, uint16_t port) {
    relay_key key{addr, port, 0};
    if (rte_hash_del_key(hash_, &key) < 0) {
        return false;
    }
    --published_;
    return true;
}

media_side* relay_table::find(uint32_t addr, uint16_t port) const {
    relay_key key{addr, port, 0};
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &key, &data) < 0) {
        return nullptr;
    }
    return static_cast<media_side*>(data);
}

uint32_t relay_table::size() const {
    return published_;
}

unsigned relay_table::lookup_bulk(const relay_key* const* keys, unsigned n, media_side** out) const {
    uint64_t hits = 0;
    rte_hash_lookup_bulk_data(hash_, reinterpret_cast<const void**>(const_cast<const relay_key**>(keys)), n,
                              &hits, reinterpret_cast<void**>(out));
    for (unsigned i = 0; i < n; ++i) {
        if (((hits >> i) & 1) == 0) {
            out[i] = nullptr;
        }
    }
    return static_cast<unsigned>(__builtin_popcountll(hits));
}

void relay_table::reader_register(unsigned id) {
    rte_rcu_qsbr_thread_register(rcu_, id);
    rte_rcu_qsbr_thread_online(rcu_, id);
}

void relay_table::reader_quiescent(unsigned id) {
    rte_rcu_qsbr_quiescent(rcu_, id);
}

void relay_table::reader_offline(unsigned id) {
    rte_rcu_qsbr_thread_offline(rcu_, id);
}

void relay_table::reader_online(unsigned id) {
    rte_rcu_qsbr_thread_online(rcu_, id);
}

}  // namespace sf::dp
