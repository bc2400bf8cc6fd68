#!/usr/bin/python3
"""Drives hakone's Elasticsearch-compatible API with the official Python client (Debian's
python3-elasticsearch, 7.x). Usage: python_client.py URL. Exits non-zero on the first mismatch."""
import sys

from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import NotFoundError, RequestError

url = sys.argv[1]
es = Elasticsearch([url])

info = es.info()
assert info["version"]["number"].startswith("8."), info
assert es.cluster.health()["status"] == "green"

es.indices.create(index="py-jobs", body={"mappings": {"properties": {
    "title": {"type": "text"}, "city": {"type": "keyword"}, "salary": {"type": "long"},
    "posted": {"type": "date"}}}})
assert es.indices.exists(index="py-jobs")
try:
    es.indices.create(index="py-jobs")
    raise AssertionError("creating an existing index must fail")
except RequestError as e:
    assert e.status_code == 400 and e.error == "resource_already_exists_exception", e.info

cities = ["東京", "大阪", "京都"]
actions = [{"_index": "py-jobs", "_id": str(i), "_source": {
    "title": "senior engineer" if i % 3 == 0 else "sales manager 営業",
    "city": cities[i % 3], "salary": 300 + i * 10,
    "posted": "2024-03-%02dT10:00:00Z" % (1 + i % 28)}} for i in range(120)]
ok, errors = helpers.bulk(es, actions, chunk_size=50, refresh=True)
assert ok == 120 and not errors, (ok, errors)

r = es.search(index="py-jobs", body={"query": {"match": {"title": "engineer"}}, "size": 5,
                                     "aggs": {"by_city": {"terms": {"field": "city"}},
                                              "avg_salary": {"avg": {"field": "salary"}},
                                              "per_week": {"date_histogram": {"field": "posted", "calendar_interval": "week"}}}})
assert r["hits"]["total"]["value"] == 40, r["hits"]["total"]
assert len(r["hits"]["hits"]) == 5
buckets = {b["key"]: b["doc_count"] for b in r["aggregations"]["by_city"]["buckets"]}
assert buckets == {"東京": 40}, buckets
expected_avg = sum(300 + i * 10 for i in range(0, 120, 3)) / 40
assert abs(r["aggregations"]["avg_salary"]["value"] - expected_avg) < 1e-6, r["aggregations"]["avg_salary"]
assert sum(b["doc_count"] for b in r["aggregations"]["per_week"]["buckets"]) == 40

r = es.search(index="py-*", q="city:大阪 AND salary:>=1000", size=0)
assert r["hits"]["total"]["value"] == len([i for i in range(120) if i % 3 == 1 and 300 + i * 10 >= 1000]), r["hits"]

assert es.count(index="py-jobs", body={"query": {"match_phrase": {"title": "営業"}}})["count"] == 80
assert es.count(index="py-jobs")["count"] == 120

ms = es.msearch(body=[{"index": "py-jobs"}, {"query": {"term": {"city": "京都"}}, "size": 0},
                      {"index": "py-jobs"}, {"query": {"range": {"salary": {"lt": 400}}}, "size": 0}])
assert [x["hits"]["total"]["value"] for x in ms["responses"]] == [40, 10], ms

# scan helper (search_after is what hakone offers; scan uses scroll, which it refuses clearly)
docs = es.get(index="py-jobs", id="7")
assert docs["_source"]["salary"] == 370

es.index(index="py-jobs", id="new", body={"title": "intern", "city": "東京", "salary": 1}, refresh="wait_for")
assert es.count(index="py-jobs", body={"query": {"term": {"city": "東京"}}})["count"] == 41
es.delete(index="py-jobs", id="new", refresh=True)

try:
    es.search(index="py-jobs", body={"query": {"fuzzy": {"title": "enginer"}}})
    raise AssertionError("fuzzy must be refused")
except RequestError as e:
    assert e.status_code == 400 and "fuzzy" in str(e.info), e.info
try:
    es.search(index="does-not-exist", body={})
    raise AssertionError("missing index must be a 404")
except NotFoundError as e:
    assert e.error == "index_not_found_exception", e.info

cat = es.cat.indices(format="json")
assert any(x["index"] == "py-jobs" and x["docs.count"] == "120" for x in cat), cat
es.indices.delete(index="py-jobs")
assert not es.indices.exists(index="py-jobs")
print("python client: all checks passed")
