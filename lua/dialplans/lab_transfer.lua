-- The lab's transfer dialplan: decides where a REFER handled on the appliance (tr=c) may send
-- the call. req.URI.User is the Refer-To user. Only the lab's own hosts are allowed; anything else
-- (a premium number, an outside host) is refused, which is what a carrier's transfer policy looks like.
--
-- It runs like any dialplan (see docs/lua-api.md): sys.Dial() allows the transfer to that
-- target; sys.Respond() refuses it, and so does a script that decides nothing.

-- The lab's hosts; the same table as in lab_default.lua (each dialplan is self-contained:
-- nothing is shared between dialplans or between runs).
local hosts = {
  alice = "192.0.2.10",
  bob = "198.51.100.20",
  carol = "198.51.100.30",
}

-- Only an exact lab user may be the target; "carol-trc" and the like are refused here.
local address = hosts[req.URI.User]
if address then
  sys.Dial(req.URI.User .. "@" .. address .. ":5060")
end

-- "X-ulaw" transfers to X allowing only G.711 mu-law and DTMF events on the new leg (co=); "X-g729"
-- only G.729, which the lab's phones do not offer: such a transfer is refused (488).
local coded_user, coded = string.match(req.URI.User, "^(%a+)%-(%w+)$")
local transfer_codecs = { ulaw = "PCMU/telephone-event", g729 = "G729" }
if coded_user and hosts[coded_user] and transfer_codecs[coded] then
  sys.Dial(coded_user .. "@" .. hosts[coded_user] .. ":5060[co=" .. transfer_codecs[coded] .. "]")
end

-- "trunk-X" hands the call to X at the provider lab-trunk (configs/lab.conf), as the default
-- dialplan routes calls there: its address, From host and credentials (its 407 is answered).
local trunk_user = string.match(req.URI.User, "^trunk%-(%w+)$")
if trunk_user then
  sys.Dial(trunk_user .. "@lab-trunk")
end

-- "X-then-trunk-Y" tries lab user X first and, when X fails (busy, say), Y at lab-trunk: the
-- steps of a transfer are tried one after the other ("a|b").
local first, then_user = string.match(req.URI.User, "^(%a+)%-then%-trunk%-(%w+)$")
if first and hosts[first] then
  sys.Dial(first .. "@" .. hosts[first] .. ":5060|" .. then_user .. "@lab-trunk")
end

-- "X+Y" rings X and Y at once ("a&b"): the first to answer takes the call, the other is
-- cancelled. Besides the lab users, "desk" is a second phone on carol's host (SIP port 5062).
local phones = { desk = "198.51.100.30:5062" }
for user, host in pairs(hosts) do
  phones[user] = host .. ":5060"
end
local x, y = string.match(req.URI.User, "^(%a+)%+(%a+)$")
if x and phones[x] and phones[y] then
  sys.Dial(x .. "@" .. phones[x] .. "&" .. y .. "@" .. phones[y])
end

sys.Log("lab transfer dialplan: refusing transfer to '" .. req.URI.User .. "'")
sys.Respond(403, "Forbidden")
