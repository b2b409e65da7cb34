#pragma once
/// @file
/// The back-to-back user agent: every call is two independent dialogs (leg A,
/// the caller's, and leg B, the one the appliance places), with the media
/// anchored on the appliance. Nothing of one leg's topology (Call-ID, tags,
/// Via, Contact, addresses in SDP) reaches the other.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "accounts.hh"
#include "asserted_identity.hh"
#include "capture_request.hh"
#include "cdr.hh"
#include "dialplan.hh"
#include "digest_auth.hh"
#include "provider_health.hh"
#include "provider_registration.hh"
#include "registrar.hh"
#include "media_anchor.hh"
#include "reliable_provisional.hh"
#include "stir_shaken.hh"
#include "signature_pool.hh"
#include "stir_verify.hh"
#include "transaction.hh"
#include "token_bucket.hh"
#include "transfer_policy.hh"

namespace sf::control {

struct replaces_value;  // sip_header_values.hh

struct b2bua_config {
    std::string user_agent = "sipferry";
    unsigned max_forwards = 70;
    uint16_t sip_port = 5060;
    timer_config timers;
    transfer_policy_config transfer;
    /// No accounts: every caller is routed through `default` unchallenged (b2bua_accounts.cc).
    std::vector<account_config> accounts;
    std::vector<provider_config> providers;
    registrar_config registrar;
    std::string domain;  ///< the digest realm of challenges ("" = "sipferry")
    unsigned session_expires_s = 1800;  ///< RFC 4028 interval offered to callees (0: no session timers)
    unsigned min_se_s = 90;             ///< smallest interval accepted from callers (else 422)
    /// Which 18x a caller that only Supports 100rel gets reliably (RFC 3262; b2bua_reliable.cc).
    reliable_policy reliable_to_caller = reliable_policy::sdp;
    /// Seconds a destination (a branch, a transfer's new party) may ring unanswered before it is
    /// CANCELled, unless its dial string has rt=; 0 = no limit. Like a proxy's Timer C (RFC 3261
    /// 16.6): a callee that sends 180 and then nothing must not hold a call and its relay ports
    /// for ever.
    unsigned max_ring_s = 180;
    /// An answered call through which no RTP was relayed either way for `media_timeout_s`
    /// (`media_hold_timeout_s` while a leg holds it: its SDP is sendonly, recvonly or inactive)
    /// is hung up: both endpoints gone without a BYE must not hold relay ports for good. 0 = never.
    unsigned media_timeout_s = 60;
    unsigned media_hold_timeout_s = 3600;
    /// `[stir]`: the signing key (PEM text, checked by the config) and certificate URL; calls to
    /// providers with sign_identity carry an Identity header (control/stir_shaken.hh).
    std::string stir_key_pem, stir_x5u;
    /// `[stir] ca` (PEM) and `max_age`: calls from providers with verify_identity have their
    /// Identity headers verified (control/stir_verify.hh, b2bua_stir_verify.cc).
    std::string stir_ca_pem;
    unsigned stir_max_age_s = 60;
    bool stir_check_crl = true;  ///< [stir] check_crl (stir_crl.hh)
    unsigned stir_crl_grace_s = 0;  ///< [stir] crl_grace
    std::string stir_crl_signers_pem;  ///< [stir] crl_signers
};

struct b2bua_stats {
    uint64_t calls_total = 0, calls_answered = 0, calls_failed = 0;
    uint64_t requests_in = 0, responses_in = 0, bad_requests = 0, unparsable_dropped = 0;
    uint64_t in_dialog_481 = 0, refer_declined = 0, dialplan_errors = 0;
    uint64_t relayed_in_dialog = 0, glare_491 = 0, pending_500 = 0;
    /// Relayed re-INVITEs CANCELled by their sender, and those the other leg left without a
    /// final response for max_ring (CANCELled by us).
    uint64_t reinvites_cancelled = 0, reinvites_unanswered = 0;
    /// Streams a re-offer enabled that had no relay ports (T.38 appended...), and re-offers
    /// refused for want of them (491 while a transfer rings, 503 out of ports).
    uint64_t streams_added = 0, stream_offers_refused = 0;
    uint64_t streams_removed = 0;  ///< streams an answer left at port 0 whose relay ports went back (release_removed_streams)
    uint64_t streams_taken_back = 0;  ///< streams a refused re-offer had added whose relay ports went back (undo_offer)
    /// Offers refused (488), and destinations not dialled (counted as 488), because no audio
    /// stream had a codec both legs' co= allow.
    uint64_t codec_offers_refused = 0;
    uint64_t own_reinvite_491 = 0;  ///< our own re-INVITEs answered 491 (retried after a back-off)
    uint64_t dialogs_gone = 0;  ///< calls ended because a leg answered a re-INVITE/UPDATE 481/408 or not at all
    uint64_t retransmitted_2xx = 0, absorbed_2xx = 0;  ///< end-to-end 2xx handling (RFC 3261 13.3.1.4)
    uint64_t refer_passed = 0, transfers_started = 0, transfers_completed = 0, transfers_failed = 0, transfers_refused = 0;
    uint64_t transfer_fallbacks = 0;  ///< a transfer's destination failed and the next one ("a|b") was dialled
    uint64_t replaces_accepted = 0, replaces_refused = 0;  ///< INVITEs with Replaces (RFC 3891)
    /// Transfers whose Replaces named a dialog elsewhere: the new party's INVITEs that carried it
    /// on, and those it refused with 481 (sent again without it).
    uint64_t replaces_passed_on = 0, replaces_passed_refused = 0;
    uint64_t pickups = 0;  ///< of those accepted, the ones that answered a ringing call (b2bua_pickup.cc)
    /// STIR/SHAKEN, INVITEs to providers with sign_identity: with an Identity signed here, with
    /// a trusted carrier's passed on, and with none (a number that is no telephone number, a
    /// withheld number towards an untrusted provider, no [stir] key).
    uint64_t stir_signed = 0, stir_passed = 0, stir_unsigned = 0;
    uint64_t stir_div_signed = 0;  ///< of those passed on, with a div PASSporT signed here (RFC 8946)
    /// STIR/SHAKEN verification of calls from providers with verify_identity, by verstat, and
    /// the failures by reason (stir_verify.hh's verification::reason).
    uint64_t verify_passed = 0, verify_failed = 0, verify_none = 0;
    std::map<std::string, uint64_t> verify_failures;
    /// Of those: failures refused (verify_identity = reject/require, RFC 8224's 4xx), calls with
    /// no SHAKEN PASSporT refused (require: 428), and failures that went on with an RFC 9410
    /// Reason to the provider.
    uint64_t verify_rejected = 0, verify_rejected_unsigned = 0, verify_reasons_sent = 0;
    /// Certificates fetched (x5u) and fetches that failed or whose chain was refused; INVITEs
    /// held while their certificate was fetched, and those not held because too many were.
    uint64_t certs_fetched = 0, cert_fetches_failed = 0, invites_held = 0, held_overflow = 0;
    uint64_t crls_fetched = 0, crl_fetches_failed = 0;  ///< CRLs the certificates named (stir_crl.hh)
    uint64_t held_cancelled = 0;  ///< held INVITEs CANCELled before their certificate came (487)
    /// Verifications whose signatures the pool checked; those checked here because it was full.
    uint64_t signatures_pooled = 0, pool_full = 0;
    uint64_t orphan_invites = 0, orphan_answers_hung_up = 0;  ///< INVITEs whose call or transfer ended first
    uint64_t auth_challenges = 0, auth_failures = 0, account_limit_refusals = 0;
    uint64_t account_rate_refusals = 0;  ///< new calls over an account's max_calls_per_second (503)
    uint64_t provider_auth_retries = 0;  ///< INVITEs re-sent with a provider's credentials
    uint64_t redirects_followed = 0;  ///< 3xx answers whose Contacts were dialled (rd=)
    /// Destinations at a provider that answered nothing within its response_timeout (failed
    /// over), and destinations skipped because their provider was down (provider_health.hh).
    uint64_t provider_response_timeouts = 0, providers_skipped_down = 0;
    uint64_t providers_skipped_full = 0;  ///< destinations skipped because their provider's max_calls were in use
    uint64_t providers_refused_full = 0;  ///< calls from a provider refused (503): its max_calls were in use
    uint64_t session_refreshes_sent = 0, session_refreshes_answered = 0, session_timer_expiries = 0;
    uint64_t media_timeouts = 0;  ///< answered calls hung up because no RTP flowed (b2bua_media_timeout.cc)
    uint64_t pracks_sent = 0;  ///< RFC 3262 PRACKs of callees' reliable provisional responses
    /// RFC 3262 towards callers: reliable 18x sent, their retransmissions, PRACKs taken,
    /// PRACKs that matched nothing (481), and 18x never PRACKed (the call failed with 504).
    uint64_t reliable_sent = 0, reliable_retransmitted = 0, pracks_received = 0, pracks_unmatched = 0,
             reliable_timeouts = 0;
};

/// One side of a call: a dialog with one peer.
struct leg {
    unsigned realm = 0;        ///< the appliance port its SIP goes through
    unsigned media_realm = 0;  ///< the port its media is anchored on (`realm` unless configured apart)
    sip_addr target;         ///< where in-dialog requests go: the first route's address, else the peer's Contact
    std::string target_uri;  ///< the peer's Contact URI (remote target): Request-URI of in-dialog requests
    /// Route set (RFC 3261 12.1): the URIs of the proxies that Record-Routed the dialog, in
    /// the order in-dialog requests pass them. Empty: straight to the remote target.
    std::vector<std::string> route_set;
    std::string call_id;
    std::string local_tag, remote_tag;
    std::string local_uri;   ///< name-addr of our side, without tag
    std::string remote_uri;  ///< name-addr of the peer, without tag
    uint32_t local_cseq = 0;
    std::string contact;     ///< our Contact value on this leg
    char transfer_mode = 'n';
    /// co= and mt= of the destination this leg reached (the caller's leg: its account's): what
    /// its party may use.
    media_policy media;
    bool owns_call_id = false;  ///< we chose the Call-ID (our INVITE opened the dialog): RFC 3261 14.1
    /// The peer as the call's other party may be told of it (connected identity, RFC 3325 9.1):
    /// what the appliance asserts of it (its own trusted assertion, or its account's; empty when
    /// none), the user it was dialled as ("" when it called in), what it withholds (RFC 3323),
    /// and whether it is inside the trust domain (a provider with trust_identity), which decides
    /// what it is told in turn. They go with the dialog when a transfer or a join moves it.
    asserted_identity peer_identity;
    std::string peer_dialled;
    privacy_request peer_privacy;
    bool peer_trusted = false;
    uint64_t sdp_sess_id = 0;
    uint64_t sdp_version = 0;  ///< the o= version of the last SDP this leg got from us
    /// The last SDP kept for this leg (call::a_last_sdp, b_last_sdp) was changed after it was
    /// sent (release_removed_streams) and holds sdp_version + 1: sending it as it is moves sdp_version on.
    bool last_sdp_ahead = false;

    std::string from_value() const { return local_uri + ";tag=" + local_tag; }
    std::string to_value() const { return remote_tag.empty() ? remote_uri : remote_uri + ";tag=" + remote_tag; }
};

class b2bua {
public:
    using clock_fn = std::function<ms_t()>;

    b2bua(b2bua_config cfg, transaction_layer& tl, timer_queue& timers, media_anchor& media,
          dialplan_engine& dialplans, cdr_writer& cdrs, sip_send_fn send, clock_fn now);
    ~b2bua();

    /// Handles one SIP datagram from the dataplane (parsed or not).
    void on_datagram(unsigned realm, sip_addr source, std::string_view raw);

    /// Calls in progress (not counting those only waiting for leg B to confirm a CANCEL).
    size_t active_calls() const { return calls_.size() - cancelling_; }
    const b2bua_stats& stats() const { return stats_; }
    const transfer_policy& transfers() const { return transfer_policy_; }
    /// JSON array of the active calls (management API).
    std::string calls_json() const;
    /// Call-manager API: transfers call `call_ref` (our numeric call id or either leg's
    /// Call-ID) so that the leg `keep` ("a", the caller, or "b") is connected to `target_user`
    /// instead of the other leg, through the `transfer` dialplan and the transfer policy as
    /// a REFER from that other leg would be. Returns (HTTP status, JSON body).
    /// A tcpdump filter that takes one call's frames as they stand now: the SIP peers of both
    /// legs, of every destination dialled for it and of a transfer's new leg being placed, and
    /// every relay port of its media and of that new leg (RTP and RTCP). CALL as api_transfer
    /// takes it. {200, filter, the call's id} or {404 (no such call) / 409 (a tag naming
    /// several, nothing to capture yet), error JSON}.
    call_filter capture_filter(const std::string& call_ref);
    /// The same for the call with id `call_id` (a capture following it: no Call-ID or tag can
    /// stand in for it).
    call_filter capture_filter(uint64_t call_id);
    /// Called when an attended transfer joins call `gone` into call `into` (`gone`'s remaining
    /// party, relay sides and dialogs now belong to `into`): a capture following `gone` follows on.
    void set_join_observer(std::function<void(uint64_t gone, uint64_t into)> f) { on_join_ = std::move(f); }
    /// STIR/SHAKEN verification: how a certificate is fetched (the control loop's
    /// certificate_fetcher). An INVITE whose certificate is not known is held until
    /// certificate_arrived() for its URL; without a fetch function it is verified at once (and
    /// fails: no certificate).
    void set_certificate_fetch(std::function<void(const std::string& url)> f) { fetch_certificate_ = std::move(f); }
    /// The fetch of `url` ended: `pem` and the response's Cache-Control max-age when `ok`, else
    /// `error`. The certificate is checked and kept; the INVITEs held for it are handled now.
    void certificate_arrived(const std::string& url, bool ok, const std::string& pem, uint32_t max_age_s,
                             const std::string& error);
    /// Threads that check signatures (`[stir] verify_threads`; nullptr: checked here, inline).
    /// An INVITE whose signatures are checked there waits, like one whose certificate is fetched.
    void set_signature_pool(signature_pool* pool) { pool_ = pool; }
    /// Takes the pool's finished checks and handles the INVITEs that waited for them (each poll
    /// of the control loop; cheap when none finished).
    void poll_verifications();
    size_t invites_held() const { return held_.size(); }
    /// The Call-ID of leg B (`leg_b`) or A of call `owner` (media_anchor::label's number): what
    /// a capture collector links a media report to that leg's SIP by. "" when the call is gone.
    std::string_view leg_call_id(uint64_t owner, bool leg_b) const;
    /// Certificate URLs the verifier knows now (certificates and recent failures).
    size_t certificates_cached() const { return verifier_ ? verifier_->certificates() : 0; }
    /// CRL URLs the verifier knows now (lists and recent failures).
    size_t revocation_lists_cached() const { return verifier_ ? verifier_->revocation_lists_known() : 0; }
    /// GET /v1/stir/certificates: the STIR certificates known by URL (`[stir] ca`'s verifier),
    /// {"certificates":[{url, state, expires_in_s, spc [...], numbers, ranges}],
    ///  "revocation_lists":[{url, state, expires_in_s, revoked}]}; empty without one.
    std::string stir_certificates_json() const;
    std::pair<int, std::string> api_transfer(const std::string& call_ref, const std::string& keep,
                                             const std::string& target_user);

    /// Reload (SIGHUP, `sipferryctl reload`): new calls use `plans` and the accounts,
    /// providers, registrar limits, transfer policy and domain of `cfg`; calls in progress keep
    /// the dialplans they started with (their transfers run those) and their account names.
    /// Registered bindings stay. The SIP port, timers and user agent are not changed here.
    void reload(const b2bua_config& cfg, std::shared_ptr<dialplan_engine> plans);
    uint64_t reloads() const { return reloads_; }
    /// Registrations to providers (`register = true`), for the API; never null after construction.
    const provider_registrations& provider_regs() const { return *provider_regs_; }
    const provider_health& providers_health() const { return health_; }
    const std::vector<provider_config>& providers() const { return accounts_.providers(); }
    /// Calls placed at a provider and not yet over (ringing or answered), and calls from it: its
    /// channels in use.
    unsigned provider_calls(const std::string& provider) const {
        const auto it = provider_calls_.find(provider);
        return it == provider_calls_.end() ? 0 : it->second;
    }
    /// Calls of an account in progress (its max_calls).
    unsigned account_calls(const std::string& account) const {
        const auto it = account_calls_.find(account);
        return it == account_calls_.end() ? 0 : it->second;
    }

    /// The location service (nullptr when no accounts are configured).
    const registrar* location() const { return registrar_.get(); }

private:
    struct call;
    /// What a relayed in-dialog offer changed, put back when it is refused (undo_offer).
    struct offer_undo {
        std::string offerer_sdp;        ///< the sender's SDP before ("" if none)
        std::string answerer_last_sdp;  ///< the SDP the other leg last got from us before
        added_streams added;            ///< the streams the offer got relay ports for
        bool sdp = false;               ///< the request carried SDP (else nothing to undo)
    };

    /// Whether the party that stays after a transfer or replacement in `c` hears one continuous
    /// RTP stream: the answering destination's cm=, else `[transfer] continuous_media`.
    bool continuous_media(const call& c) const;

    // Session timers (b2bua_session_timer.cc, RFC 4028).
    /// One leg's session timer: its interval (0 = none) and who refreshes.
    struct leg_timer {
        unsigned interval_s = 0;
        bool we_refresh = false;
        timer_queue::id timer = 0;
    };
    /// The caller's Session-Expires into `t`; false when it was refused with 422.
    bool negotiate_timer_a(leg_timer& t, const sip::message& invite, uint64_t stx);
    /// Header lines for the 2xx to leg A, and for the INVITEs to leg B (Session-Expires and
    /// Min-SE; the INVITE's Supported line lists timer).
    std::string timer_headers_for_a(const call& c) const;
    std::string timer_headers_for_b() const;
    /// What the callee's 2xx granted.
    void negotiate_timer_b(call& c, const sip::message& answer);
    /// (Re)starts a leg's timer: our refresh at interval/2, or its deadline.
    void arm_session_timer(call& c, bool leg_b);
    void session_refresh(call& c, bool leg_b);
    /// A refresh that changes nothing, answered here; false if the request must be relayed.
    bool answer_refresh_locally(const inbound& in, call& c, bool from_a, uint64_t stx);

    // Accounts (b2bua_accounts.cc).
    /// Who sent a request: an account (trusted network or digest), a provider's trunk, anyone
    /// (no accounts configured), or nobody yet: `answered` means a 401/407/403/400 went out.
    struct identity {
        enum class kind : uint8_t { open, account, provider, answered };
        kind what = kind::open;
        const account_config* account = nullptr;
    };
    void setup_accounts();
    /// Every housekeeping_ms: expired bindings go, due OPTIONS keepalives and provider probes
    /// are sent.
    void housekeeping();
    static constexpr ms_t housekeeping_ms = 1000;
    /// `proxy_style`: 407/Proxy-Authorization (INVITE, REFER) rather than 401 (REGISTER).
    identity identify(const inbound& in, uint64_t stx, bool proxy_style);
    void on_register(const inbound& in);
    /// `user@provider` and `user@local` made concrete (a local user may fan out to several
    /// contacts). Returns "" or the refusal, with its status in `status`.
    std::string resolve_targets(std::vector<dial_target>& targets, unsigned& status) const;
    /// Sets `t.media_realm` from its mr= option (which beats a provider's or account's
    /// `media_realm`). Returns "" or why the named port does not exist.
    std::string resolve_media_realm(dial_target& t) const;
    /// The account's own transfers-per-minute bucket (max_transfers_per_minute).
    bool account_transfer_allowed(const std::string& account, ms_t now);
    /// The account's new-calls-per-second bucket (max_calls_per_second).
    bool account_call_allowed(const account_config& account, ms_t now);

    void on_request(const inbound& in);
    void on_response(const inbound& in);
    void on_invite(const inbound& in);
    void on_cancel(const inbound& in);
    /// An INVITE with Replaces (b2bua_replaces.cc): the new party takes the named leg's place,
    /// or the INVITE is answered 400/403/481/486/603 (RFC 3891 3).
    void on_replacing_invite(const inbound& in, uint64_t stx, const sdp::session& offer, const account_config* account);
    /// An INVITE with Replaces naming a destination's early dialog (b2bua_pickup.cc): the new
    /// party answers the ringing call in its place (RFC 3891 7.1).
    void on_pickup(const inbound& in, uint64_t stx, const sdp::session& offer, const account_config* account, call& c,
                   const replaces_value& rv);
    /// Answers an INVITE with Replaces that may not take the leg it names (counted, logged).
    void refuse_replacing(const inbound& in, uint64_t stx, unsigned status, std::string_view why);
    void on_in_dialog(const inbound& in, call& c, bool from_a);
    void on_ack(const inbound& in);
    void answer_locally(const inbound& in, unsigned status, std::string_view extra = {});

    void send_a_final(call& c, unsigned status, std::string_view reason);
    // Dialling the dialplan's destinations (b2bua_fork.cc).
    /// Starts group `group` of the call's plan: each destination's INVITE now or after its dt=.
    void start_group(call& c, unsigned group);
    void send_branch_invite(call& c, size_t i);
    void on_branch_response(uint64_t call_id, size_t i, const inbound& in);
    void on_branch_timeout(uint64_t call_id, size_t i);
    /// The branch's final response or timeout: it is done; the group may be over.
    void finish_branch(call& c, size_t i, unsigned status, std::string_view reason);
    /// A provider's 401/407 to branch `i`: the INVITE again with its credentials (RFC 3261
    /// 22.2: same Call-ID and tags, CSeq + 1), once. False when it cannot be answered.
    bool retry_with_credentials(call& c, size_t i, const sip::message& challenge);
    /// The Authorization / Proxy-Authorization line (CRLF included) that answers `challenge`
    /// (401/407 to an INVITE of `request_uri`) with `provider`'s credentials; "" when it has
    /// none or the challenge cannot be answered (logged).
    std::string provider_credentials(const call& c, const std::string& provider, const sip::message& challenge,
                                     const std::string& request_uri);
    /// A 3xx from branch `i` whose destination says rd=: its Contacts become the next
    /// destinations, one after the other. False when it does not apply (the 3xx is a failure).
    bool follow_redirect(call& c, size_t i, const sip::message& m);
    /// PRACK of a reliable provisional response in a branch's early dialog (RFC 3262).
    void send_prack(call& c, size_t i, const sip::message& reliable);
    /// Stops ringing branch `i` (CANCEL now, or on its first provisional response; `reason`:
    /// the CANCEL's Reason header value, RFC 3326).
    void give_up_branch(call& c, size_t i, std::string_view reason = {});
    /// Every branch but `except` (-1: all) is given up.
    void give_up_branches(call& c, int except, std::string_view reason = {});
    /// Branch `i` answered first: its dialog becomes leg B, the others are cancelled.
    void answer_from_branch(call& c, size_t i, const inbound& in);
    /// A branch that answered after another won: ACK and BYE its dialog.
    void hang_up_branch(call& c, size_t i, const inbound& in);
    /// Gives back the provider channel branch `i` holds, if any (b2bua_fork.cc).
    void release_channel(call& c, size_t i);
    /// Gives back the channel leg B (`leg_b`) or A holds at its provider (call::channel), once.
    void release_leg_channel(call& c, bool leg_b);
    /// One channel of `provider` fewer in use.
    void give_back_channel(const std::string& provider);
    /// Gives back the channel transfer destination `i` holds (transfer_branch::holds_channel), once.
    void release_transfer_channel(call& c, size_t i);
    /// One call of `account` fewer (account_calls_).
    void forget_account_call(const std::string& account);
    /// The destination's provider response_timeout, from its INVITE on (b2bua_fork.cc).
    void arm_response_timeout(call& c, size_t i);
    /// A provider's OPTIONS probe (provider_health.hh), from the housekeeping timer.
    void ping_provider(const provider_config& p);
    /// Sends an OPTIONS outside any dialog (keepalives and probes): any response calls `answered`,
    /// a transaction timeout `unanswered`.
    void send_options(unsigned realm, sip_addr dest, const std::string& request_uri, std::function<void()> answered,
                      std::function<void()> unanswered);
    /// The P-Asserted-Identity (and Privacy) of a trusted callee's 18x/2xx, as the caller may
    /// hear it (connected identity, RFC 3325 9.1: responses carry it too); "" for untrusted ones.
    std::string connected_identity(const call& c, const dial_target& callee, const sip::message& m) const;
    // Connected identity after the other party changed (b2bua_connected_identity.cc).
    /// `l` is the dialog our INVITE to `t` opened, `answer` its 2xx: who answered.
    void learn_answering_party(leg& l, const dial_target& t, const sip::message& answer) const;
    /// `l` is the dialog `invite` (a Replaces or a pickup, from `trunk` or `account`, either may
    /// be nullptr) opened with us: who called.
    void learn_calling_party(leg& l, const provider_config* trunk, const account_config* account,
                             const sip::message& invite) const;
    /// The P-Asserted-Identity (and Privacy) lines that tell the peer of `to` that it now talks
    /// with the peer of `about`, as `[transfer] connected_identity` and their privacy allow.
    std::string connected_party_lines(const leg& to, const leg& about) const;
    /// When no branch of the current group rings any more: the next group, or A's final response.
    void group_over(call& c);
    /// A branch of the current group is delayed or ringing.
    bool branches_pending(const call& c) const;
    /// Some branch has not seen its final response yet (given-up ones included).
    bool branches_unsettled(const call& c) const;
    void arm_duration_limit(call& c, unsigned seconds);
    /// Starts watching an answered call's relayed RTP (b2bua_media_timeout.cc).
    void watch_media(call& c);
    void check_media(uint64_t call_id);
    /// Leg A gave up before the answer (CANCEL, or BYE in the early dialog): 487 to A, CANCEL to B.
    /// Also used with another `status` (and CDR `hangup`) when the appliance gives up on A.
    void abandon(call& c, unsigned status = 487, const char* hangup = "caller");

    // Reliable provisional responses to the caller (b2bua_reliable.cc, RFC 3262 as UAS on leg A).
    /// What the caller's INVITE says about 100rel; the first RSeq.
    void setup_reliable_a(call& c, const sip::message& invite);
    /// A provisional response to A's INVITE: reliably when the caller asks for it (or the policy
    /// says so), after the outstanding one's PRACK if there is one; else as it is.
    void send_a_provisional(call& c, unsigned status, std::string_view reason, std::string_view extra,
                            std::string_view body);
    /// The 2xx to A's INVITE (then its ACK is waited for): now, or once the outstanding
    /// reliable provisional response is PRACKed.
    void answer_a(call& c, unsigned status, std::string_view reason, std::string extra, std::string body);
    /// A PRACK in leg A's early dialog: 200 when it matches the outstanding response, else 481.
    void on_prack(const inbound& in, call& c, bool from_a, uint64_t stx);
    /// No more retransmissions (a final response went to A, or the call ends); a held 2xx that
    /// can no longer go out turns into 487 for A's INVITE.
    void stop_reliable_a(call& c);
    /// A's CANCEL while its 2xx is held for a PRACK: 487 to A, BYE to B. False if none is held.
    bool cancel_held_answer_a(call& c);
    void send_reliable_a(call& c, pending_response p);
    void deliver_answer_a(call& c);
    void retransmit_reliable_a(uint64_t call_id);
    /// 64*T1 without a PRACK: 504 to A (RFC 3262 3: 5xx) and both legs torn down.
    void reliable_timed_out(call& c);

    // In-dialog (b2bua_in_dialog.cc).
    /// Relays an in-dialog INVITE, UPDATE or INFO to the other leg (server transaction `stx`).
    void relay_in_dialog(const inbound& in, call& c, bool from_a, uint64_t stx);
    /// An offer (re-INVITE, UPDATE) from leg `from_a` while one is unanswered: 500 with
    /// Retry-After when it was the sender's own, 491 when the other leg's crosses it (true then).
    bool refuse_crossing_offer(call& c, bool from_a, uint64_t stx);
    /// Gives relay ports to the streams an in-dialog offer from A (`offer_from_a`) or B enables
    /// that the call has none for (media_anchor::add_streams). 0 when done or nothing was
    /// added; else the status to refuse the offer with: 488 before any media was anchored,
    /// 491 during a transfer (its new party's half is built on the streams as they are), 503
    /// when relay ports run out (stats sip.streams_added, sip.stream_offers_refused). With
    /// `added`, what was anchored is recorded there, to give back if the offer is refused.
    unsigned anchor_added_streams(call& c, bool offer_from_a, const sdp::session& desc,
                                  added_streams* added = nullptr);
    /// A 2xx's or an ACK's SDP answer completed an offer/answer: the streams it leaves at port 0
    /// (declined, or removed by the offerer; RFC 3264 6, 8.2) give their relay ports back
    /// (media_anchor::release_removed), and the SDPs last sent to the legs say port 0 for
    /// them, so that a session refresh, which repeats the last SDP, never names a port another
    /// call may hold by then (stat sip.streams_removed). Not while a transfer's new party
    /// borrows the call's sides: the kept party's re-INVITE after the switch settles them.
    /// `other`: for an answer that is not passed on (our own re-INVITE's), the other party's
    /// SDP: a stream it has active keeps its ports.
    void release_removed_streams(call& c, const sdp::session& answer, const sdp::session* other = nullptr);
    /// The SDP leg B (`leg_b`) or A last got from us, to send again as it is (a session
    /// refresh): its version is the leg's from now on.
    const std::string& last_sdp_again(call& c, bool leg_b);
    /// The SDP leg B (`for_b`) or A last got from us becomes `source` rewritten for it (our
    /// address and the streams' ports as they are now), one version on from the one it had
    /// (RFC 3264 8; once, however often this happens before it is sent: leg::last_sdp_ahead).
    /// Nothing when that is what it was.
    void replace_last_sdp(call& c, bool for_b, std::string_view source);
    /// The relayed UPDATE offer of leg `from_a` got its final response (or none will come).
    void answered_update_offer(uint64_t call_id, bool from_a);
    /// Header lines of `m` that the other leg gets (REFER's Refer-To/Referred-By translated
    /// to this appliance's address on `other`'s realm). False if they cannot be translated.
    bool relay_headers(const sip::message& m, const leg& other, std::string& extra) const;
    /// `undo`: what the offer the request carried changed (empty if none).
    void on_relayed_response(uint64_t call_id, bool from_a, uint64_t stx, sip::method method,
                             const offer_undo& undo, const inbound& in);
    /// CANCELs the re-INVITE relayed to the other leg (RFC 3261 9.1): its sender CANCELled it
    /// (`by_sender`), or it went max_ring without a final response. The other leg's answer
    /// (487, or a 2xx that crossed the CANCEL) is relayed as usual.
    void cancel_reinvite(call& c, bool by_sender);
    /// Leg `leg_b` answered a re-INVITE or UPDATE 481 or 408, or not at all (`status` 0): RFC 3261
    /// 12.2.1.2 and 14.1, RFC 4028 10: its dialog is over, and with it the call (BYE to the other
    /// leg, and to this one unless it said 481; hangup "dialog_gone").
    void dialog_gone(call& c, bool leg_b, unsigned status);
    /// The relayed re-INVITE has its final response (or none will come): its timer stops.
    void end_reinvite(call& c);
    /// A relayed offer (re-INVITE or UPDATE) from leg A (`from_a`) or B failed: the session
    /// stays as it was (RFC 3261 14.1, RFC 3311 5.2, RFC 3264 8). The offerer's SDP and media
    /// address go back, the streams the offer added give their relay ports back
    /// (media_anchor::take_back; stat sip.streams_taken_back), and the SDP the other leg last
    /// got from us is the one before the offer again (replace_last_sdp), so that a session
    /// refresh never repeats the refused offer.
    void undo_offer(call& c, bool from_a, const offer_undo& undo);
    /// A relayed NOTIFY's "Event: refer;id=" (in `extra`) renamed to the CSeq the REFER had in
    /// the dialog the NOTIFY goes to (RFC 3515 2.4.6).
    void translate_refer_event(const call& c, bool from_a, std::string& extra) const;
    /// ACK for a 2xx on one leg (cseq of that leg's INVITE), with an SDP body or none.
    void send_ack(call& c, bool to_b, uint32_t cseq, std::string_view sdp);
    /// A request inside leg `l`'s dialog: its Contact URI as Request-URI, our From and tag,
    /// its To and tag, its Call-ID, our Via on its realm (RFC 3261 12.2.1.1).
    sip_wire in_dialog_request(const leg& l, std::string_view method, uint32_t cseq, std::string_view branch,
                                  bool with_contact = false, std::string_view extra = {},
                                  std::string_view content_type = {}, std::string_view body = {}) const;
    void send_bye(call& c, bool to_b);
    /// Retransmits `text` (a 2xx) to `to` on leg A or B until its ACK (RFC 3261 13.3.1.4).
    void wait_for_ack(call& c, bool on_a, uint32_t cseq, sip_wire text, sip_addr to);
    void retransmit_2xx(uint64_t call_id, bool on_a, unsigned interval);
    // Transfers (b2bua_transfer.cc).
    void on_refer(const inbound& in, call& c, bool from_a, uint64_t stx);
    /// REFER with Replaces (its value %-decoded) naming the transferor's leg of another call:
    /// joins the two remaining parties. False when it cannot be honoured (the caller goes on blind).
    bool try_attended(call& c, bool from_a, uint64_t stx, uint32_t refer_cseq, std::string_view replaces);
    /// Where a transfer should go and who asked for it (a REFER, or the call-manager API).
    struct transfer_request {
        std::string target_user, target_host;   ///< run through the `transfer` dialplan as req.URI
        std::string from_user, source_ip, realm;
        uint16_t source_port = 0;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string referred_by;
        uint32_t refer_cseq = 0;                ///< Event: refer;id=
        bool subscription = false;              ///< NOTIFY the transferor of the progress (REFER)
        /// A Refer-To's Replaces naming no dialog of ours (replaces_header_value form, "" = none):
        /// the new party's INVITE carries it (RFC 5589 7.1), so that the UA holding that dialog
        /// (a PBX's consultation call) takes the transferee in its place.
        std::string replaces;
    };
    /// status 0: started; else the refusal (nothing was changed).
    struct transfer_outcome {
        unsigned status = 0;
        std::string reason;
    };
    /// Policy, routing and the new leg, shared by REFER and the API. `accepted` runs once the
    /// transfer is sure to start, before anything is sent (a REFER's 202 goes there).
    transfer_outcome start_transfer(call& c, bool transferor_is_a, const transfer_request& tr,
                                    const std::function<void()>& accepted);
    /// Destination `i`'s INVITE again (CSeq + 1, a new transaction) after a final response that
    /// a change answers: credentials for a challenge, no Replaces for a 481.
    void resend_transfer_invite(call& c, size_t i);
    /// A response to the INVITE of destination `i` of the transfer's current step.
    void on_transfer_response(uint64_t call_id, size_t i, const inbound& in);
    /// Destination `i` answered first: it becomes the leg that replaces the transferor's.
    void complete_transfer(call& c, size_t i, const inbound& answer);
    void fail_transfer(call& c, unsigned status, std::string_view reason);
    /// Routes the destinations of the transfer's current step (steps[step]) and opens the relay
    /// sides they share; "" or why the step cannot be tried.
    std::string open_transfer_step(call& c);
    /// Builds a new leg towards each destination of the step, sends their INVITEs (one SDP for
    /// all), arms each one's ring time.
    void dial_transfer_step(call& c);
    /// Destination `i` failed: when none of the step rings any more, the step failed; a 6xx
    /// fails the whole transfer at once.
    /// `still_pending`: its INVITE had no final response (a response_timeout): the transaction is
    /// left to the orphan code rather than detached.
    void transfer_branch_failed(call& c, size_t i, unsigned status, std::string_view reason,
                                bool still_pending = false);
    /// The transfer destination's provider response_timeout, from its INVITE on.
    void arm_transfer_response_timeout(call& c, size_t i);
    /// Every destination of the step failed: the next step is tried, else the transfer fails
    /// with the step's best failure (RFC 3261 16.7).
    void transfer_step_failed(call& c);
    /// CANCELs (or, should they answer, ACKs and BYEs) every destination of the step still
    /// ringing except `except` (-1: all) and forgets their dialogs.
    void give_up_transfer_branches(call& c, int except, std::string_view reason = {});
    /// (Re)sends the INVITE of destination `i` of the step.
    void send_transfer_invite(call& c, size_t i);
    /// A provider's 401/407 to destination `i`'s INVITE: sent again once with its credentials.
    bool retry_transfer_with_credentials(call& c, size_t i, const sip::message& challenge);
    /// NOTIFY of the refer subscription on the transferor's leg (RFC 3515), final or not.
    void notify_transferor(call& c, unsigned status, std::string_view reason, bool final);
    // The appliance's own re-INVITEs (b2bua_own_reinvite.cc).
    /// Re-INVITEs one leg with `sdp` (after a transfer, a session refresh); `extra`: more
    /// header lines. Sent when nothing crosses it, retried after 491, one at a time per leg.
    void reinvite_leg(call& c, bool to_b, const std::string& sdp, std::string_view extra = {});
    /// One of our own re-INVITEs is in progress on either leg (a relayed offer gets 491).
    bool own_reinvite_pending(const call& c) const;
    void send_own_reinvite(call& c, bool to_b);
    /// Another attempt `after` ms from now.
    void retry_own_reinvite(call& c, bool to_b, ms_t after);
    void on_own_reinvite_response(uint64_t call_id, bool to_b, uint32_t cseq, const inbound& resp);
    /// Ours on leg `to_b` has its final response: the next one wanted goes.
    void end_own_reinvite(call& c, bool to_b);
    /// The call ends: retries stop, a pending re-INVITE is left to its transaction.
    void forget_own_reinvites(call& c);
    /// A call ending while a transfer is under way: the new leg is cancelled or hung up.
    void abort_transfer(call& c);
    void end_call(call& c, const char* hangup);
    // INVITEs nobody wants any more (b2bua_orphans.cc).
    /// Takes over INVITE client transaction `invite_tx` (the dialog it opens: `l`) whose call or
    /// transfer is gone before it got its final response: CANCELled (at once, or on its first
    /// provisional response), ACKed and BYEd if it answers anyway, forgotten at its final
    /// response or after 64*T1.
    void adopt_orphan(const leg& l, uint64_t invite_tx, std::string_view reason = {});
    /// A response for an INVITE whose call or transfer is gone.
    void on_orphan_response(const inbound& in);
    void write_record(call& c, const char* hangup);
    /// The record of the call's current segment as it ends now (`hangup`: why), with the RTP
    /// counted since the segment began. Not written: the caller decides when.
    call_record ended_segment(const call& c, const char* hangup) const;
    /// After one leg's party was replaced (a transfer, Replaces): the next segment counts from
    /// here. The kept party's sides go on counting (what they sent and what it reported), the
    /// new party's from zero (what it sent and reported before the switch belongs to it).
    void start_segment_after_switch(call& c, bool keep_a) const;
    /// The dialog a received INVITE opens with this appliance as its UAS: the peer's tag and
    /// From, our new tag, its Contact as the target (else where it came from), our Contact.
    leg uas_leg(const inbound& in) const;
    call* find_call(std::string_view call_id, bool* is_a = nullptr);
    /// The call an API request names: its id, either leg's Call-ID, or the tag its dial string
    /// set (which must name one call); nullptr with `refusal` (404 or 409, error JSON) if none.
    call* call_by_ref(const std::string& call_ref, std::pair<int, std::string>& refusal);
    call_filter filter_of(const call& c) const;  ///< capture_filter's answer for `c`
    /// The STIR/SHAKEN Identity lines ("Identity: ...\r\n") of an INVITE to `t`, or "" (`t`
    /// no provider with sign_identity, the caller withholds its identity and `t` is outside the
    /// trust domain). `passed`: the lines a trusted carrier's call came with
    /// (call::inbound_identity), given as they are; else one signed here (none without [stir]
    /// or when either number is no telephone number). `orig_user`: the calling number as the
    /// INVITE presents it; `attest`, `origid`: the call's (call::attest).
    std::string identity_line(const dial_target& t, const std::string& passed, const std::string& orig_user,
                              char attest, const std::string& origid, bool withheld);
    /// RFC 8946: the div PASSporT's Identity line that goes beside the Identity lines `c` came
    /// with (passed on to `t`) when `t`'s number is not the one the call came for: the appliance
    /// diverted it, and says so under its own signature. "" when the call was not diverted,
    /// either number is no telephone number, the passed lines hold no SHAKEN PASSporT to name
    /// the caller, its verification failed here, or there is no [stir] key.
    std::string div_identity_line(const call& c, const dial_target& t);
    /// STIR/SHAKEN verification (b2bua_stir_verify.cc). True when `in` (a new INVITE from a
    /// provider with verify_identity) names a certificate that is not known yet: it is kept and
    /// its fetch started; certificate_arrived() handles it again.
    /// Also true when its signatures are being checked by the pool (set_signature_pool).
    /// `prepared`: the verification as far as it goes without signatures, when this made it
    /// and did not hold `in` (verify_caller then finishes it: the headers are read once).
    bool hold_for_verification(const inbound& in, std::optional<prepared_verification>& prepared);
    /// Keeps `in` until `url` arrives or, when `url` is empty, the verification of transaction
    /// `key` is done; false (kept nothing) when too many wait already.
    bool hold(const inbound& in, std::string url, std::string key);
    /// Handles again, in arrival order, the held INVITEs that wait for `url` (or, with `url`
    /// empty, for the verification of transaction `key`).
    void replay_held(const std::string& url, const std::string& key);
    /// The verification of a new INVITE from `trunk` (not_verified unless it has
    /// verify_identity): its Identity headers against the calling number (a trusted provider's
    /// P-Asserted-Identity, else the From user) and the called one (the Request-URI's user, else
    /// the To's). Taken from the pool's answer when it checked the signatures.
    verification verify_caller(const sip::message& m, const provider_config* trunk,
                               const std::optional<prepared_verification>& prepared);
    /// What the provider is told of `v` on INVITE server transaction `stx`: a failure refused
    /// with RFC 8224's response (reject_failed_identity), no PASSporT at all with 428
    /// (require_identity); a failure that goes on with RFC 9410's Reason on the next response.
    /// False when the INVITE was refused.
    bool answer_verification(uint64_t stx, const provider_config* trunk, const verification& v);
    /// A CANCEL of an INVITE held for its certificate: the INVITE is answered 487 (its server
    /// transaction made now), dropped with its retransmissions, the CANCEL answered 200. False
    /// when no held INVITE matches (Call-ID, top Via branch and host).
    bool cancel_held_invite(const inbound& cancel);
    /// (Re)builds the verifier when [stir] ca or max_age changed (its certificates are kept otherwise).
    void setup_verifier();

    /// `body` for leg B (`for_b`) or A: on that leg's relay address and ports, its own origin,
    /// with only the codecs and media types both legs allow (allowed_media). An `offer` lists
    /// the codecs in the order of that leg's list (its co=): the preference it makes. An answer
    /// keeps the answerer's order, so that both parties send the codec it put first.
    std::string rewrite_sdp(call& c, bool for_b, std::string_view body, bool offer = false);
    /// `source` on leg B's (`for_b`) or A's relay address and ports, with the leg's own origin
    /// at o= version `version`: rewrite_sdp's rewrite, without its filter or bookkeeping.
    std::string rewrite_for_leg(const call& c, bool for_b, std::string_view source, uint64_t version) const;
    /// `sdp` with only the audio codecs and media types both policies allow (two parties' co=
    /// and mt=, `leg::media`; an empty list allows any): what passes between two parties is
    /// what each may use. `refused` (if given): as an offer it is refused (488), because it had
    /// an active audio stream of an allowed type and none is left with a codec, or it had an
    /// active stream and none of an allowed type is left. `prefer`: for an offer, the codec list
    /// of the party it goes to, whose order the offer's codecs take (sdp::filter_media).
    static std::string allowed_media(std::string_view sdp, const media_policy& x, const media_policy& y,
                                     bool* refused = nullptr, sdp::name_list prefer = {});
    /// The realm (port index) towards `addr`: on-link first, else one with a gateway; -1 if none.
    int route(uint32_t addr) const;
    /// The realm (port) called `name`, -1 when there is none.
    int realm_named(std::string_view name) const;
    const realm_info& realm(unsigned i) const { return media_.realm(i); }

    b2bua_config cfg_;
    transaction_layer& tl_;
    timer_queue& timers_;
    media_anchor& media_;
    /// The dialplans new calls start with (reload() swaps them); each call keeps its own.
    std::shared_ptr<dialplan_engine> dialplans_;
    cdr_writer& cdrs_;
    sip_send_fn send_;
    clock_fn now_;
    std::function<void(uint64_t, uint64_t)> on_join_;  ///< set_join_observer
    std::unique_ptr<identity_signer> signer_;  ///< [stir]; nullptr: nothing is signed
    std::unique_ptr<identity_verifier> verifier_;  ///< [stir] ca; nullptr: nothing is verified
    std::string verifier_setup_;  ///< the ca and max_age verifier_ was built with
    std::function<void(const std::string&)> fetch_certificate_;  ///< set_certificate_fetch
    struct held_invite {
        std::string url;  ///< the certificate it waits for, or ""
        std::string key;  ///< else the transaction whose signatures the pool checks
        unsigned realm = 0;
        sip_addr source;
        std::string raw;
    };
    std::deque<held_invite> held_;    ///< in arrival order (retransmissions too: absorbed once replayed)
    bool replaying_ = false;          ///< replay_held() at work: an INVITE held again is not counted again
    std::set<std::string> fetching_;  ///< URLs asked of fetch_certificate_ and not arrived yet
    signature_pool* pool_ = nullptr;  ///< set_signature_pool
    struct signature_job {
        std::string key;  ///< the INVITE transaction (Call-ID, Via branch and host)
        prepared_verification prepared;
    };
    std::unordered_map<uint64_t, signature_job> jobs_;  ///< in the pool, by job id
    std::set<std::string> checking_;                    ///< their transactions
    uint64_t last_job_ = 0;
    /// A transaction's verification the pool finished, while its INVITEs are handled again.
    std::unordered_map<std::string, verification> verified_;
    uint64_t last_call_id_ = 0;
    std::unordered_map<uint64_t, std::unique_ptr<call>> calls_;
    std::unordered_map<std::string, uint64_t> by_call_id_;  ///< both legs' Call-IDs
    size_t cancelling_ = 0;
    account_directory accounts_;
    std::unique_ptr<digest_server> auth_;
    std::unique_ptr<registrar> registrar_;
    std::unique_ptr<provider_registrations> provider_regs_;  ///< kept across reloads (bindings stay)
    provider_health health_;  ///< which probed providers answer; kept across reloads by name
    /// Channels in use per provider (max_calls): branches placed there, held until they fail or
    /// their call ends (call::branch::holds_channel).
    std::unordered_map<std::string, unsigned> provider_calls_;
    digest_client digest_client_;  ///< answers providers' challenges
    std::string digest_realm_;
    timer_queue::id housekeeping_timer_ = 0;
    std::unordered_map<std::string, token_bucket> transfer_buckets_;  ///< per account: max_transfers_per_minute
    std::unordered_map<std::string, token_bucket> call_buckets_;      ///< per account: max_calls_per_second
    std::unordered_map<std::string, unsigned> account_calls_;  ///< active calls per account
    uint64_t reloads_ = 0;
    struct orphan_invite {
        leg l;
        timer_queue::id timer = 0;
    };
    std::unordered_map<std::string, orphan_invite> orphans_;  ///< by the INVITE's Call-ID
    transfer_policy transfer_policy_;
    b2bua_stats stats_;
};

}  // namespace sf::control
