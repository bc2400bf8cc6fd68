// Drives hakone's Elasticsearch-compatible API with the official Node.js client
// (@elastic/elasticsearch 8.x, which checks X-Elastic-Product and sends compatible-with=8).
// Usage: node node_client.mjs URL. Exits non-zero on the first mismatch.
import { Client, errors } from '@elastic/elasticsearch'
import assert from 'node:assert/strict'

const client = new Client({ node: process.argv[2] })

const info = await client.info()
assert.ok(info.version.number.startsWith('8.'))

await client.indices.create({
  index: 'node-logs',
  mappings: { properties: { level: { type: 'keyword' }, msg: { type: 'text' }, n: { type: 'long' }, '@timestamp': { type: 'date' } } }
})
assert.equal(await client.indices.exists({ index: 'node-logs' }), true)

const levels = ['info', 'warn', 'error']
const operations = []
for (let i = 0; i < 90; i++) {
  operations.push({ index: { _index: 'node-logs', _id: `n${i}` } })
  operations.push({ '@timestamp': new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(), level: levels[i % 3], msg: i % 2 ? 'ユーザー ログイン 成功' : 'disk full on host', n: i })
}
const bulk = await client.bulk({ refresh: true, operations })
assert.equal(bulk.errors, false)
assert.equal(bulk.items.length, 90)

const r = await client.search({
  index: 'node-*',
  query: { bool: { filter: [{ term: { level: 'error' } }], must: [{ match: { msg: 'ログイン' } }] } },
  aggs: { per10m: { date_histogram: { field: '@timestamp', fixed_interval: '10m' } }, stats: { stats: { field: 'n' } } },
  size: 100,
  sort: [{ n: 'asc' }]
})
const expected = [...Array(90).keys()].filter(i => i % 3 === 2 && i % 2 === 1)
assert.equal(r.hits.total.value, expected.length)
assert.deepEqual(r.hits.hits.map(h => h._source.n), expected)
assert.equal(r.aggregations.stats.count, expected.length)
assert.equal(r.aggregations.per10m.buckets.reduce((a, b) => a + b.doc_count, 0), expected.length)

const c = await client.count({ index: 'node-logs', query: { match_phrase: { msg: 'disk full' } } })
assert.equal(c.count, 45)

const ms = await client.msearch({ searches: [{ index: 'node-logs' }, { query: { term: { level: 'warn' } }, size: 0 }, { index: 'node-logs' }, { query: { range: { n: { gte: 80 } } }, size: 0 }] })
assert.deepEqual(ms.responses.map(x => x.hits.total.value), [30, 10])

await assert.rejects(client.search({ index: 'node-logs', query: { fuzzy: { msg: 'dsk' } } }), e => e instanceof errors.ResponseError && e.meta.statusCode === 400)
await assert.rejects(client.get({ index: 'node-logs', id: 'nope' }), e => e instanceof errors.ResponseError && e.meta.statusCode === 404)
const doc = await client.get({ index: 'node-logs', id: 'n5' })
assert.equal(doc._source.n, 5)

await client.indices.delete({ index: 'node-logs' })
console.log('node client: all checks passed')
