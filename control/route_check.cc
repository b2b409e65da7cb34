#include "route_check.hh"
#include "stir_verify.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <istream>
#include <map>
#include <ostream>
#include <sstream>

#include "accounts.hh"
#include "json_writer.hh"
#include "sip/sip_uri.hh"
#include "transfer_policy.hh"

namespace sf::control {

namespace pt = boost::property_tree;

std::string load_dialplans(dialplan_engine& engine, const config& c) {
    engine.set_tables(c.dialplan.tables);
    std::map<std::string, std::string> plans = c.dialplan.named;
    plans.emplace("default", c.dialplan.default_path);
    plans.emplace("transfer", c.dialplan.transfer_path);
    for (const auto& [name, path] : plans) {
        if (path.empty()) {
            continue;
        }
        if (const std::string err = engine.load(name, path); !err.empty()) {
            return "dialplan " + name + ": " + err;
        }
    }
    return "";
}

dialplan_limits limits_of(const dialplan_config& c) {
    dialplan_limits l;
    l.max_instructions = c.max_instructions;
    l.max_memory_bytes = static_cast<size_t>(c.max_memory_kib) * 1024;
    return l;
}

namespace {

/// "sip:user@host" (or "user@host") into its user and host; false when it is no URI.
bool split_uri(const std::string& text, std::string& user, std::string& host) {
    const std::string uri = text.find(':') == std::string::npos || text.find('@') < text.find(':') ? "sip:" + text : text;
    sip::uri u;
    if (!sip::parse_uri(uri, u)) {
        return false;
    }
    user = std::string(u.user);
    host = std::string(u.host);
    return true;
}

/// What one request line asks, or why it cannot be read.
struct check_request {
    route_request rq;
    bool refer = false;
    std::string plan;  ///< "" = by account
    std::string error;
};

check_request read_request(const std::string& line, const config& c, const account_directory& accounts) {
    check_request out;
    pt::ptree doc;
    try {
        std::istringstream in(line);
        pt::read_json(in, doc);
    } catch (const pt::json_parser_error& e) {
        out.error = std::string("not a JSON object: ") + e.message();
        return out;
    }
    route_request& rq = out.rq;
    const std::string refer_to = doc.get<std::string>("refer_to", "");
    const std::string uri = refer_to.empty() ? doc.get<std::string>("uri", "") : refer_to;
    out.refer = !refer_to.empty();
    if (uri.empty()) {
        out.error = "\"uri\" (a call) or \"refer_to\" (a REFER) is required";
        return out;
    }
    if (!split_uri(uri, rq.uri_user, rq.uri_host)) {
        out.error = "\"" + std::string(out.refer ? "refer_to" : "uri") + "\" is no SIP URI: " + uri;
        return out;
    }
    std::string ignored;
    if (const std::string from = doc.get<std::string>("from", ""); !from.empty() && !split_uri(from, rq.from_user, ignored)) {
        out.error = "\"from\" is no SIP URI: " + from;
        return out;
    }
    rq.from_display = doc.get<std::string>("from_display", "");
    rq.to_user = rq.uri_user;
    if (const std::string to = doc.get<std::string>("to", ""); !to.empty() && !split_uri(to, rq.to_user, ignored)) {
        out.error = "\"to\" is no SIP URI: " + to;
        return out;
    }
    // The source decides the account (trusted networks) and the realm (the port on its network).
    uint32_t source = 0;
    if (const std::string text = doc.get<std::string>("source", ""); !text.empty()) {
        const size_t colon = text.find(':');
        rq.source_ip = text.substr(0, colon);
        unsigned port = 5060;
        if (colon != std::string::npos) {
            try {
                port = static_cast<unsigned>(std::stoul(text.substr(colon + 1)));
            } catch (const std::exception&) {
                port = 0;
            }
        }
        if (!parse_ipv4_text(rq.source_ip, source) || port == 0 || port > 65535) {
            out.error = "\"source\" is no IPv4 address[:port]: " + text;
            return out;
        }
        rq.source_port = static_cast<uint16_t>(port);
    }
    rq.realm = doc.get<std::string>("realm", "");
    for (size_t i = 0; rq.realm.empty() && source != 0 && i < c.dataplane.ports.size(); ++i) {
        const auto& p = c.dataplane.ports[i];
        const uint32_t mask = p.prefix == 0 ? 0 : ~uint32_t{0} << (32 - p.prefix);
        if ((p.addr & mask) == (source & mask)) {
            rq.realm = p.name;
        }
    }
    rq.account = doc.get<std::string>("account", "");
    if (rq.account.empty() && source != 0) {
        if (const account_config* a = accounts.account_by_source(source)) {
            rq.account = a->name;
        }
    }
    if (!rq.account.empty() && accounts.account(rq.account) == nullptr) {
        out.error = "no [account." + rq.account + "] in the config";
        return out;
    }
    if (const auto headers = doc.get_child_optional("headers")) {
        for (const auto& [name, value] : *headers) {
            rq.headers.emplace_back(name, value.get_value<std::string>());
        }
    }
    rq.verstat = doc.get<std::string>("verstat", "");
    if (!rq.verstat.empty() && rq.verstat != to_string(verstat::passed) && rq.verstat != to_string(verstat::failed) &&
        rq.verstat != to_string(verstat::no_validation)) {
        out.error = "verstat: expected TN-Validation-Passed, TN-Validation-Failed or No-TN-Validation";
        return out;
    }
    // Who signed a call that passed: only then does a verification name them.
    rq.signer_spc = doc.get<std::string>("signer_spc", "");
    rq.origid = doc.get<std::string>("origid", "");
    rq.diverted_from = doc.get<std::string>("diverted_from", "");
    if ((!rq.signer_spc.empty() || !rq.origid.empty() || !rq.diverted_from.empty()) &&
        rq.verstat != to_string(verstat::passed)) {
        out.error = "signer_spc, origid, diverted_from: only with verstat TN-Validation-Passed";
        return out;
    }
    out.plan = doc.get<std::string>("plan", "");
    return out;
}

/// The plan a request runs: its own "plan", else its account's, else default / transfer.
std::string plan_of(const check_request& r, const account_directory& accounts) {
    if (!r.plan.empty()) {
        return r.plan;
    }
    const account_config* a = r.rq.account.empty() ? nullptr : accounts.account(r.rq.account);
    if (r.refer) {
        return a != nullptr ? a->transfer_dialplan : std::string("transfer");
    }
    return a != nullptr ? a->dialplan : std::string("default");
}

const char* kind_name(route_result::kind k) {
    switch (k) {
    case route_result::kind::dial: return "dial";
    case route_result::kind::respond: return "respond";
    case route_result::kind::none: return "none";
    case route_result::kind::error: return "error";
    }
    return "error";
}

/// One destination as the appliance would resolve it offline: a provider's address, a
/// registered user (known only to the running appliance), an IPv4 address, or nothing (502).
void write_target(json_writer& j, const dial_target& t, const account_directory& accounts) {
    j.begin_object().key("user").value(t.user).key("host").value(t.host).key("port").value(unsigned{t.port});
    j.key("group").value(t.group);
    uint32_t addr = 0;
    if (const provider_config* p = accounts.provider(t.host)) {
        j.key("provider").value(p->name).key("address").value(ipv4_to_string(p->host) + ":" + std::to_string(p->port));
    } else if (t.host == "local") {
        j.key("registered_user").value(true);  // its contacts live in the running registrar
    } else if (!parse_ipv4_text(t.host, addr)) {
        j.key("unroutable").value(true);  // neither an address nor a provider: the caller gets 502
    }
    j.end_object();
}

}  // namespace

unsigned check_routes(const config& c, dialplan_engine& engine, std::istream& in, std::ostream& out) {
    const account_directory accounts(c.accounts, c.providers);
    unsigned unreadable = 0;
    std::string line;
    for (unsigned n = 1; std::getline(in, line); ++n) {
        const size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') {
            continue;
        }
        json_writer j;
        j.begin_object().key("line").value(n);
        const check_request r = read_request(line, c, accounts);
        if (!r.error.empty()) {
            ++unreadable;
            out << j.key("error").value(r.error).end_object().take() << "\n";
            continue;
        }
        const std::string plan = plan_of(r, accounts);
        j.key("kind").value(r.refer ? "refer" : "call").key("plan").value(plan).key("account").value(r.rq.account);
        j.key("realm").value(r.rq.realm);
        if (plan.empty() || !engine.has(plan)) {
            // As the appliance: a REFER without a transfer dialplan is declined, a call 500s.
            j.key("decision").value("respond").key("code").value(r.refer ? 603 : 500);
            out << j.key("reason").value("no dialplan '" + plan + "'").end_object().take() << "\n";
            continue;
        }
        const route_result rr = engine.run(plan, r.rq);
        j.key("decision").value(kind_name(rr.what));
        switch (rr.what) {
        case route_result::kind::dial:
            j.key("dial").value(format_dial_string(rr.targets));
            j.key("targets").begin_array();
            for (const dial_target& t : rr.targets) {
                write_target(j, t, accounts);
            }
            j.end_array();
            break;
        case route_result::kind::respond:
            j.key("code").value(rr.code).key("reason").value(rr.reason);
            break;
        case route_result::kind::error:
            j.key("error").value(rr.error);
            break;
        case route_result::kind::none:
            break;
        }
        if (r.refer) {
            // The [transfer] policy after the dialplan, as on the appliance: a first transfer of
            // its call, the rate bucket full (one policy per line: lines never drain each other).
            transfer_policy policy(c.transfer);
            const char* why = policy.check(r.rq.uri_user, 0, 0);
            j.key("policy").value(why == nullptr ? std::string("allowed") : std::string(why));
        }
        j.key("log").begin_array();
        for (const std::string& l : rr.logs) {
            j.value(l);
        }
        out << j.end_array().end_object().take() << "\n";
    }
    return unreadable;
}

}  // namespace sf::control
