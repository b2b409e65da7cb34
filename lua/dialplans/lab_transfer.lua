-- The lab's transfer dialplan: decides where a REFER handled on the appliance (tr=c) may send
-- the call. req.URI.User is the Refer-To user. Only the lab's own hosts are allowed; anything else
-- (a premium number, an outside host) is refused, which is what a carrier's transfer policy looks like.

local hosts = {
  alice = "192.0.2.10",
  bob = "198.51.100.20",
  carol = "198.51.100.30",
}

local address = hosts[req.URI.User]
if address then
  sys.Dial(req.URI.User .. "@" .. address .. ":5060")
end

sys.Log("lab transfer dialplan: refusing transfer to '" .. req.URI.User .. "'")
sys.Respond(403, "Forbidden")
