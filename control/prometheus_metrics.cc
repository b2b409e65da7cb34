#include "prometheus_metrics.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace sf::control {

namespace {

using boost::property_tree::ptree;

/// Objects of the stats whose keys are names, and the label each name becomes.
const std::pair<const char*, const char*> label_maps[] = {
    {"ports", "port"},
    {"relay.port_pairs", "port"},
    {"workers", "worker"},
    {"drops", "reason"},
    {"transfers.refusals", "reason"},
    {"stir.failures", "reason"},
    {"providers.channels", "provider"},
    {"providers.quality", "provider"},
    {"providers.probed", "provider"},
    {"provider_registrations", "provider"},
};

/// Paths (label levels left out) of values that go up and down: gauges. Everything else counts
/// events since the start: counters.
const char* const gauges[] = {
    "relay.entries",
    "relay.port_pairs.in_use",
    "relay.port_pairs.capacity",
    "workers.lcore",
    "worker_clock_hz",
    "capture.running",
    "hep.enabled",
    "sip.rate_limited_sources",
    "sip.transactions",
    "sip.message_mbufs_free",
    "neighbours.entries",
    "accounts.registered_users",
    "accounts.bindings",
    "calls.active",
    "stir.certificates.held_now",
    "stir.certificates.cached",
    "stir.certificates.crls_cached",
    "stir.signatures.threads",
    "stir.signatures.in_pool",
    "providers.channels.calls",
    "providers.channels.max",
    "providers.quality.mean_mos",
    "providers.quality.recent_mos",
    "providers.probed.up",
    "provider_registrations.expires_s",
    "provider_registrations.expires_in_s",
    "provider_registrations.last_status",
    "provider_registrations.failures",
};

/// Text fields that are enumerations: `sipferry_<path>{..., <last key>="<value>"} 1`.
const char* const enums[] = {"provider_registrations.state"};

struct family {
    std::string name;
    bool counter = false;
    std::string help;
    std::vector<std::string> samples;  ///< `{labels} value` (labels may be empty)
};

class exposition {
public:
    std::string text() const {
        std::string out;
        for (const family& f : families_) {
            out += "# HELP " + f.name + " " + f.help + "\n";
            out += "# TYPE " + f.name + (f.counter ? " counter\n" : " gauge\n");
            for (const std::string& s : f.samples) {
                out += f.name + s + "\n";
            }
        }
        return out;
    }

    void walk(const ptree& node, const std::string& path, const std::string& labels) {
        for (const auto& [key, child] : node) {
            if (key.empty()) {
                continue;  // an array's element: the stats have none, and no name to give it
            }
            const std::string here = path.empty() ? key : path + "." + key;
            if (const char* label = label_of(here)) {
                for (const auto& [name, grandchild] : child) {
                    const std::string l = labels + (labels.empty() ? "" : ",") + label + "=\"" + escape(name) + "\"";
                    if (grandchild.empty()) {
                        leaf(here, l, grandchild.data());
                    } else {
                        walk(grandchild, here, l);
                    }
                }
            } else if (!child.empty()) {
                walk(child, here, labels);
            } else {
                leaf(here, labels, child.data());
            }
        }
    }

private:
    static const char* label_of(const std::string& path) {
        for (const auto& [p, label] : label_maps) {
            if (path == p) {
                return label;
            }
        }
        return nullptr;
    }

    static bool listed(const char* const* first, const char* const* last, const std::string& path) {
        return std::any_of(first, last, [&](const char* p) { return path == p; });
    }

    static std::string escape(const std::string& v) {
        std::string out;
        for (const char c : v) {
            if (c == '\\' || c == '"') {
                out += '\\';
                out += c;
            } else if (c == '\n') {
                out += "\\n";
            } else {
                out += c;
            }
        }
        return out;
    }

    /// The metric name of a stats path: letters, digits and '_' only.
    static std::string metric_name(const std::string& path) {
        std::string out = "sipferry_";
        for (const char c : path) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            out += ok ? c : '_';
        }
        return out;
    }

    /// A number as exposition text (ptree keeps JSON scalars as text); "" when it is none.
    static std::string number(const std::string& v) {
        if (v == "true") {
            return "1";
        }
        if (v == "false") {
            return "0";
        }
        if (v.empty() || v.size() > 32 || v.find_first_not_of("0123456789.-+eE") != std::string::npos) {
            return "";
        }
        size_t used = 0;
        try {
            (void)std::stod(v, &used);
        } catch (const std::exception&) {
            return "";
        }
        return used == v.size() ? v : "";
    }

    void leaf(const std::string& path, const std::string& labels, const std::string& value) {
        if (listed(std::begin(enums), std::end(enums), path)) {
            const std::string key = path.substr(path.rfind('.') + 1);
            const std::string l = labels + (labels.empty() ? "" : ",") + key + "=\"" + escape(value) + "\"";
            add(path, false, "{" + l + "} 1");
            return;
        }
        const std::string n = number(value);
        if (n.empty()) {
            return;  // text (a contact URI, an error) or null
        }
        const bool counter = !listed(std::begin(gauges), std::end(gauges), path);
        add(path, counter, (labels.empty() ? "" : "{" + labels + "}") + " " + n);
    }

    /// One sample; a second one of the same series (a key twice in the JSON) or a name another
    /// family of the other type holds is left out: a scrape must never see either.
    void add(const std::string& path, bool counter, std::string sample) {
        const std::string name = metric_name(path) + (counter ? "_total" : "");
        auto [it, fresh] = index_.try_emplace(name, families_.size());
        if (fresh) {
            families_.push_back(family{name, counter, "sipferry stats " + escape_help(path), {}});
        } else if (families_[it->second].counter != counter) {
            return;
        }
        const std::string series = name + sample.substr(0, sample.rfind(' '));
        if (series_.insert(series).second) {
            families_[it->second].samples.push_back(std::move(sample));
        }
    }

    /// HELP text escapes '\\' and line feeds.
    static std::string escape_help(const std::string& v) {
        std::string out;
        for (const char c : v) {
            out += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
        }
        return out;
    }

    std::vector<family> families_;  ///< in the order the stats first name them
    std::map<std::string, size_t> index_;
    std::set<std::string> series_;  ///< name and labels of every sample written
};

}  // namespace

std::string prometheus_from_stats(const std::string& stats_json) {
    ptree doc;
    try {
        std::istringstream in(stats_json);
        boost::property_tree::read_json(in, doc);
    } catch (const std::exception&) {
        return "";
    }
    if (!doc.data().empty()) {
        return "";  // a bare value
    }
    exposition e;
    e.walk(doc, "", "");
    return e.text();
}

}  // namespace sf::control
