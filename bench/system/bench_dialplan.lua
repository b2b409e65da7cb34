-- The system benchmark's dialplan: every call goes to the scripted callee of
-- bench/system/sip_calls.py on the core side (sfb-gen, 203.0.113.140).
sys.Dial(req.URI.User .. "@203.0.113.140:5060")
