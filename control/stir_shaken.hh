#pragma once
/// @file
/// STIR/SHAKEN signing (the authentication service of RFC 8224, ATIS-1000074): the Identity
/// header a call placed at a provider carries, a PASSporT (RFC 8225, with the SHAKEN extension
/// of RFC 8588) signed with the carrier's ES256 key, so that the terminating carrier can verify
/// the calling number and how well the appliance knows the caller (attestation A, B or C).
///
/// Pure apart from OpenSSL: the B2BUA decides the claims (who called, whom, attestation), this
/// file makes the header. Verification (the terminating side, fetching certificates from `x5u`)
/// is not done here.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sf::control {

/// A SIP user as a PASSporT's telephone number (RFC 8224 8.3): a leading '+' and the visual
/// separators - . ( ) dropped, leaving 1..15 digits (E.164's longest). "" when `user` is no
/// telephone number (a name, other characters, no digits, more than 15 digits).
std::string canonical_tn(std::string_view user);

/// RFC 8588 attestation: 'A' full (the appliance authenticated the caller and knows the
/// number is theirs), 'B' partial (an authenticated caller, a number it cannot vouch for), 'C'
/// gateway (the call came from elsewhere, e.g. another carrier's trunk).
struct passport_claims {
    char attest = 'C';
    std::string orig_tn;  ///< canonical_tn() of the calling number
    std::string dest_tn;  ///< canonical_tn() of the called number
    int64_t iat = 0;      ///< issued at: seconds since the epoch
    std::string origid;   ///< a UUID naming the call where it entered the network (RFC 8588)
};

/// RFC 8946: a call that a carrier diverts from the number it was signed for to another one
/// carries, beside the PASSporT it came with, a "div" PASSporT of the diverting carrier: the
/// same caller, the new destination, and the one it was diverted from.
struct div_claims {
    std::string orig_tn;  ///< the caller, as the PASSporT the call came with names it
    std::string dest_tn;  ///< where the call goes now
    std::string div_tn;   ///< where it was going (the number the call arrived for)
    int64_t iat = 0;
};

/// The PASSporT's JSON: header and claims with keys in lexicographic order and no white space
/// (RFC 8225 9: the form that is signed). `ppt`: "shaken" or "div".
std::string passport_header_json(std::string_view x5u, std::string_view ppt = "shaken");
std::string passport_payload_json(const passport_claims& c);
std::string passport_payload_json(const div_claims& c);

/// base64url without padding (RFC 7515 2).
std::string base64url(std::string_view bytes);

/// A random UUID (version 4, RFC 9562 5.4), lower-case hex: an origid.
std::string random_uuid();

/// The authentication service: the carrier's private key (EC P-256) and where its certificate
/// is published (`x5u`, an https URL).
class identity_signer {
public:
    /// From PEM text; nullptr with `error` set when it is no EC P-256 private key.
    static std::unique_ptr<identity_signer> from_pem(const std::string& pem, std::string x5u, std::string& error);
    ~identity_signer();
    identity_signer(const identity_signer&) = delete;
    identity_signer& operator=(const identity_signer&) = delete;

    /// The Identity header's value (RFC 8224 4.1, SHAKEN's full form):
    /// `HEADER.PAYLOAD.SIGNATURE;info=<x5u>;alg=ES256;ppt=shaken`, the signature ES256 (the
    /// raw 64-byte r||s of RFC 7518 3.4). "" if signing failed (OpenSSL out of memory).
    std::string identity(const passport_claims& c) const;
    /// The same for a div PASSporT: `HEADER.PAYLOAD.SIGNATURE;info=<x5u>;alg=ES256;ppt=div`.
    std::string identity(const div_claims& c) const;
    const std::string& x5u() const { return x5u_; }

private:
    identity_signer() = default;
    std::string sign(std::string_view ppt, const std::string& payload_json) const;
    void* key_ = nullptr;  // EVP_PKEY*
    std::string x5u_;
};

/// True when a received Identity header value may be passed on as it is: 1..4096 bytes of
/// printable ASCII (a JWS and its parameters; no line break a peer could inject).
bool passable_identity(std::string_view value);

/// True when `url` may be a certificate's x5u: https:// (or http://) and printable ASCII
/// without white space, quotes, '<', '>' or ';' (it goes into the Identity header's info).
bool valid_x5u(std::string_view url);

}  // namespace sf::control
