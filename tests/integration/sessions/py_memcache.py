"""pymemcache (Debian python3-pymemcache) against hakone sessions' memcached listener.
Usage: py_memcache.py PORT"""
import sys

from pymemcache.client.base import Client

c = Client(("127.0.0.1", int(sys.argv[1])), connect_timeout=5, timeout=5, default_noreply=False)
assert c.set("mc:sess", b"alice", expire=3600) is True
assert c.get("mc:sess") == b"alice"
assert c.add("mc:sess", b"bob") is False
assert c.replace("mc:sess", b"carol") is True
assert c.append("mc:sess", b"!") is True
assert c.get("mc:sess") == b"carol!"
val, cas = c.gets("mc:sess")
assert c.cas("mc:sess", b"dave", cas) is True
assert c.cas("mc:sess", b"eve", cas) is False
assert c.set("mc:n", b"5") is True
assert c.incr("mc:n", 3) == 8
assert c.decr("mc:n", 10) == 0
assert c.touch("mc:sess", 100) is True
assert c.get_many(["mc:sess", "mc:n", "nope"]) == {"mc:sess": b"dave", "mc:n": b"0"}
assert c.delete("mc:n") is True
assert c.get("mc:n") is None
assert c.version().startswith(b"1.")
print("ok")
