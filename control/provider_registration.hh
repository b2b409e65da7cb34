#pragma once
/// @file
/// Registration of the appliance to its providers (`[provider.NAME] register = true`): the UAC
/// side of RFC 3261 section 10, so that a trunk that only sends calls to registered contacts
/// (most consumer and many wholesale trunks) reaches the appliance.
///
/// Per provider: one Call-ID for the life of the registration and CSeq counting up (RFC 3261
/// 10.2.4), REGISTER to sip:<from_host> at the provider's address, Contact <sip:username@our
/// address on its realm>, its 401/407 answered once per attempt with the provider's
/// credentials (digest_client), 423 answered with its Min-Expires, the binding refreshed before
/// the granted expiry, failures retried with a doubling back-off (30 s ... 15 min). A reload
/// that changes or removes a provider unregisters the old binding (Expires: 0) and registers
/// the new one; an unchanged provider keeps its registration.
///
/// Everything runs on the control thread, driven by the transaction layer and the timer queue.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accounts.hh"
#include "digest_auth.hh"
#include "json_writer.hh"
#include "media_anchor.hh"
#include "timer_queue.hh"
#include "transaction.hh"

namespace sf::control {

struct provider_registration_env {
    transaction_layer& tl;
    timer_queue& timers;
    std::function<ms_t()> now;
    /// Realm (port index) towards an address: the provider's own when it names one, else routed.
    std::function<int(uint32_t addr)> route;
    std::function<const realm_info&(unsigned realm)> realm;
    uint16_t sip_port = 5060;
    std::string user_agent;
    unsigned max_forwards = 70;
};

struct provider_registration_stats {
    uint64_t registers_sent = 0;
    uint64_t registered = 0;       ///< 2xx to a REGISTER with an expiry
    uint64_t unregistered = 0;     ///< 2xx to an Expires: 0
    uint64_t auth_answered = 0;    ///< 401/407 answered with credentials
    uint64_t failures = 0;         ///< attempts that ended without a binding (status, timeout, no route)
};

class provider_registrations {
public:
    /// Back-off after a failed attempt: first_retry_ms, doubling, at most max_retry_ms.
    static constexpr ms_t first_retry_ms = 30'000;
    static constexpr ms_t max_retry_ms = 900'000;

    explicit provider_registrations(provider_registration_env env);
    ~provider_registrations();
    provider_registrations(const provider_registrations&) = delete;
    provider_registrations& operator=(const provider_registrations&) = delete;

    /// Takes the providers of a (re)loaded config: starts registering those with `registers`,
    /// keeps unchanged ones as they are, unregisters changed and removed ones.
    void configure(const std::vector<provider_config>& providers);

    enum class state : uint8_t { registering, registered, retry_wait, unregistering };
    static const char* state_name(state s);

    /// One provider's registration as the API shows it; nullptr if it does not register.
    struct view {
        state st;
        unsigned expires_s;      ///< granted expiry of the current binding (0: none)
        ms_t expires_at;         ///< when it lapses (0: none)
        unsigned last_status;    ///< last final status (0: none yet, 408: timeout)
        unsigned failures;       ///< consecutive failed attempts
    };
    std::optional<view> find(const std::string& provider) const;
    size_t size() const { return regs_.size(); }
    /// {"NAME": {"state": ..., "expires_s": ..., "expires_in_s": ..., "last_status": ..., "failures": ...}}
    void write_json(json_writer& j) const;
    const provider_registration_stats& stats() const { return stats_; }

private:
    struct reg;
    void send_register(reg& r, unsigned expires, std::string auth_header = {});
    void on_response(const std::string& name, uint64_t serial, const inbound& in);
    void on_timeout(const std::string& name, uint64_t serial);
    void failed(reg& r, unsigned status);
    void schedule(reg& r, ms_t delay, bool refresh);
    void unregister_and_forget(std::unique_ptr<reg> r);

    provider_registration_env env_;
    digest_client digest_;
    std::map<std::string, std::unique_ptr<reg>> regs_;        ///< by provider name
    std::vector<std::unique_ptr<reg>> leaving_;               ///< unregistering after a reload
    uint64_t next_serial_ = 0;
    provider_registration_stats stats_;
};

}  // namespace sf::control
