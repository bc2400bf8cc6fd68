"""Python's redis client (Debian python3-redis) against hakone sessions.
Usage: py_session.py PORT write SID USER | read SID"""
import json
import sys

import redis

port, op = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
if op == "write":
    sid, user = sys.argv[3], sys.argv[4]
    p = r.pipeline(transaction=True)
    p.set("pysess:" + sid, json.dumps({"user": user}), ex=3600)
    p.hset("pyuser:" + user, mapping={"sid": sid, "logins": 1})
    p.sadd("pyactive", sid)
    p.execute()
    print("ok")
elif op == "read":
    sid = sys.argv[3]
    raw = r.get("pysess:" + sid)
    ttl = r.ttl("pysess:" + sid)
    if raw is None:
        print("missing")
        sys.exit(1)
    user = json.loads(raw)["user"]
    h = r.hgetall("pyuser:" + user)
    member = r.sismember("pyactive", sid)
    print(user, ttl, h[b"sid"].decode(), int(member))
