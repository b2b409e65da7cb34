-- The lab's default dialplan (DESIGN.md, "Lab dialplan contract").
--
-- A dialplan is run once per new call. `req` describes the INVITE being routed:
--   req.URI.User, req.URI.Host     the Request-URI
--   req.From.User, req.From.Display, req.To.User
--   req.Source.Address, req.Source.Port, req.Realm (the port it came in on),
--   req.Account                    the caller's account: trusted network or digest user (lab.conf)
--   req.Header["Name"]             first value of a header, name case-insensitive
-- and `sys` decides:
--   sys.Dial("user@host[:port][tr=n|p|c]")   place the call (ends the script); "a&b" rings both,
--                                            "a|b" one after the other; "user@local" rings a
--                                            registered user (docs/lua-api.md, docs/accounts.md)
--   sys.Respond(code, "Reason")              refuse it (ends the script)
--   sys.Log(...)                              a line in the appliance's log
-- A script that decides nothing gets 404; an error gets 500 and its file:line in the log.
-- The full API is in docs/lua-api.md.

-- The lab's hosts: calls for user X go to host X.
local hosts = {
  alice = "192.0.2.10",
  bob = "198.51.100.20",
  carol = "198.51.100.30",
}

local user = req.URI.User

-- "X" dials host X with the default transfer mode (n: REFERs are declined).
local address = hosts[user]
if address then
  sys.Dial(user .. "@" .. address .. ":5060")
end

-- The lab phones' telephone numbers (a leading + is ignored): "15557001" dials alice as "alice" does.
-- identity_verified's calls from the trunk sign it as their PASSporT's dest (a telephone number).
local numbers = {
  ["15557001"] = "alice",
}
local number_host = numbers[string.match(user, "^%+?(%d+)$") or ""]
if number_host then
  sys.Dial(number_host .. "@" .. hosts[number_host] .. ":5060")
end

-- The telephone number 15557009 (a leading + is ignored) is forwarded unconditionally to 15551234
-- at the provider lab-trunk: its INVITE names 15557009 in its Diversion (RFC 5806, dv=), and a call
-- that came signed from a trusted carrier gets a "div" PASSporT (RFC 8946) from 15557009 to
-- 15551234 after the carrier's Identity (identity_verified).
if string.match(user, "^%+?15557009$") then
  sys.Dial("15551234@lab-trunk[dv=unconditional]")
end

-- "X-trM" dials host X with transfer mode M: n (decline), p (pass through) or c (handle here).
local name, mode = string.match(user, "^(%a+)%-tr([npc])$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[tr=" .. mode .. "]")
end

-- "X-trc-cm" dials host X handling transfers here (tr=c) with one continuous RTP stream for the
-- party that stays (cm=1): after the transfer alice hears carol in bob's SSRC, sequence numbers
-- and timestamps going on.
name = string.match(user, "^(%a+)%-trc%-cm$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[tr=c,cm=1]")
end

-- "X-mflood" dials X with the callee's media anchored on the memif port flood (dial string
-- mr=flood), its SIP as usual: the same-queue SIP flood test (configs/lab.conf [port.flood]).
name = string.match(user, "^(%a+)%-mflood$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[mr=flood]")
end

-- "X-alaw" dials X allowing only G.711 A-law and DTMF events on its leg (co=): every SDP between
-- the caller and X keeps only PCMA and telephone-event; a caller that offers no PCMA gets 488.
-- "X-alaw-trc" also handles transfers here, and "X-alaw-or-Y" tries Y when X allows none of the
-- caller's codecs.
name = string.match(user, "^(%a+)%-alaw$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[co=PCMA/telephone-event]")
end
name = string.match(user, "^(%a+)%-alaw%-trc$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[co=PCMA/telephone-event,tr=c]")
end
local alaw_first, alaw_next = string.match(user, "^(%a+)%-alaw%-or%-(%a+)$")
if alaw_first and hosts[alaw_first] and hosts[alaw_next] then
  sys.Dial(alaw_first .. "@" .. hosts[alaw_first] .. ":5060[co=PCMA/telephone-event]|" ..
           alaw_next .. "@" .. hosts[alaw_next] .. ":5060")
end

-- "X-alawfirst" dials X allowing A-law, then mu-law, then DTMF events, in that order of
-- preference (co= orders the codecs of the offers X gets; answers keep the answerer's order).
name = string.match(user, "^(%a+)%-alawfirst$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[co=PCMA/PCMU/telephone-event]")
end

-- "X-novideo" dials X with voice and fax only (mt=): a caller's video reaches X disabled
-- (m=video 0), as for a PSTN trunk that refuses offers with video.
name = string.match(user, "^(%a+)%-novideo$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[mt=audio/image]")
end

-- "X-rd" dials X and follows its redirect (rd=2: the 302's two best Contacts, in turn).
name = string.match(user, "^(%a+)%-rd$")
if name and hosts[name] then
  sys.Dial(name .. "@" .. hosts[name] .. ":5060[rd=2]")
end

-- "X+Y" rings X and Y in parallel: the first to answer gets the call, the other is cancelled.
local first, second = string.match(user, "^(%a+)%+(%a+)$")
if first and hosts[first] and hosts[second] then
  sys.Dial(first .. "@" .. hosts[first] .. ":5060&" .. second .. "@" .. hosts[second] .. ":5060")
end

-- "X-then-Y" rings X for 4 seconds, then Y (also when X fails at once, busy say), forwarded on no
-- answer: Y's INVITE names the dialled "X-then-Y" in its Diversion (RFC 5806, dial option dv=)
-- and its History-Info (RFC 7044, dh=both).
first, second = string.match(user, "^(%a+)%-then%-(%a+)$")
if first and hosts[first] and hosts[second] then
  sys.Dial(first .. "@" .. hosts[first] .. ":5060[rt=4]|" .. second .. "@" .. hosts[second] ..
           ":5060[dv=no-answer,dh=both]")
end

-- "trunk-X" sends X to the provider lab-trunk (configs/lab.conf): the dial string "X@lab-trunk"
-- takes the provider's address and From host, and its 407 is answered with its credentials.
local trunk_user = string.match(user, "^trunk%-(%w+)$")
if trunk_user then
  sys.Dial(trunk_user .. "@lab-trunk")
end

-- "deadfirst-X" tries the provider lab-dead first, then host X (configs/lab.conf: lab-dead is
-- probed with OPTIONS and nobody answers, so it is down and skipped at once, as if it said 503).
-- "silentfirst-X" tries lab-silent first (never probed, never answers): after its
-- response_timeout (1 s) without any response that destination fails (408) and host X rings.
local failover_first, failover_user = string.match(user, "^(%a+)first%-(%a+)$")
if failover_user and hosts[failover_user] and (failover_first == "dead" or failover_first == "silent") then
  sys.Dial(failover_user .. "@lab-" .. failover_first .. "|" .. failover_user .. "@" .. hosts[failover_user] .. ":5060")
end

-- "pbxfirst-X" tries the provider lab-pbx first (configs/lab.conf: a PBX on carol's address with
-- max_calls = 1), then host X: while another call holds lab-pbx's only channel, that destination is
-- skipped at once (as if it said 503) and host X rings.
local pbx_user = string.match(user, "^pbxfirst%-(%a+)$")
if pbx_user and hosts[pbx_user] then
  sys.Dial(pbx_user .. "@lab-pbx|" .. pbx_user .. "@" .. hosts[pbx_user] .. ":5060")
end

-- "qroute-X" dials X through the provider lab-pbx unless the calls placed there sound bad: while
-- lab-pbx's recent MOS (sys.Quality: the RTCP of the calls the appliance placed to it, each new
-- record direction weighing 1/16) is below 3.6, host X is dialled directly, around the PBX. A PBX
-- not rated yet (nil) is used. The log line says which way and why.
local q_user = string.match(user, "^qroute%-(%a+)$")
if q_user and hosts[q_user] then
  local q = sys.Quality("lab-pbx")
  if q and q.RecentMOS < 3.6 then
    sys.Log(string.format("qroute: lab-pbx recent MOS %.2f (%d rated): around it", q.RecentMOS, q.Rated))
    sys.Dial(q_user .. "@" .. hosts[q_user] .. ":5060")
  end
  if q then
    sys.Log(string.format("qroute: lab-pbx recent MOS %.2f (%d rated): through it", q.RecentMOS, q.Rated))
  else
    sys.Log("qroute: lab-pbx not rated yet: through it")
  end
  sys.Dial(q_user .. "@lab-pbx")
end

-- Extensions 2000..2999 are registered users (configs/lab.conf: account dave registers as 2001):
-- "2001" rings every contact that registered as 2001, over the flow its REGISTER came from (dial
-- string "user@local"); the caller gets 480 while nobody is registered.
if string.match(user, "^2%d%d%d$") then
  sys.Dial(user .. "@local")
end

sys.Log("lab dialplan: no route for user '" .. user .. "'")
sys.Respond(404, "Not Found")
