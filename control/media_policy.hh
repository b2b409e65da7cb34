#pragma once
/// @file
/// What media one party of a call may use, as a destination's dial string (co=, mt=), its
/// provider or a customer's account says. The B2BUA holds each leg to its own: every SDP
/// between the two parties is narrowed to what both legs allow (sdp::filter_media), never
/// converted (the appliance does not transcode).

#include <string>
#include <vector>

namespace sf::control {

struct media_policy {
    /// co= / `codecs`: the audio codecs, by RTP encoding name ("PCMA", "telephone-event");
    /// empty: any.
    std::vector<std::string> codecs;
    /// mt= / `media_types`: the media types of the m-lines ("audio", "image"); a stream of
    /// another type is disabled (port 0). Empty: any.
    std::vector<std::string> types;

    /// Narrows anything at all (an SDP needs filtering).
    bool restricts() const { return !codecs.empty() || !types.empty(); }
    /// Each list left empty (a dial string without co= or mt=) takes `defaults`' (its provider's
    /// or registered user's account's): a dial string's list overrides, one list at a time.
    void inherit(const media_policy& defaults) {
        if (codecs.empty()) {
            codecs = defaults.codecs;
        }
        if (types.empty()) {
            types = defaults.types;
        }
    }
    bool operator==(const media_policy&) const = default;
};

}  // namespace sf::control
