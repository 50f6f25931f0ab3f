"""Response codes as plain integers: one definition for the server and every plugin.

Plain ``int`` constants (not ``dns.rcode.Rcode`` members) because the hot
path compares them with header bits; ``dns.rcode.to_text`` names them.
Values above 15 are extended rcodes: the upper bits travel in the OPT record
(:func:`skydns.query.wire.error_reply` puts them there).
"""

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
YXDOMAIN = 6
YXRRSET = 7
NXRRSET = 8
NOTAUTH = 9
NOTZONE = 10
BADVERS = 16
