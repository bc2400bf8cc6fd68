// A minimal login app on express-session + connect-redis + node-redis, pointed at a Redis-protocol
// server (hakone sessions in the tests). Usage: node login_app.js HTTP_PORT REDIS_URL
//   POST /login?user=NAME  → logs in; the body is the Cookie header value to send back
//   GET  /me               → 200 with the user name, or 401
const express = require('express');
const session = require('express-session');
const RedisStore = require('connect-redis').default;
const { createClient } = require('redis');
const signature = require('cookie-signature');

const [port, url] = process.argv.slice(2);
const secret = 'hakone-test-secret';
const client = createClient({ url, socket: { reconnectStrategy: () => 100 } });
client.on('error', () => {});  // reconnects on its own; requests meanwhile fail with 500
client.connect().then(() => {
  const app = express();
  app.use(session({ store: new RedisStore({ client, prefix: 'sess:' }), secret, resave: false,
                    saveUninitialized: false, cookie: { maxAge: 3600 * 1000 } }));
  app.post('/login', (req, res) => {
    req.session.user = String(req.query.user || 'anonymous');
    req.session.save((err) => {
      if (err) return res.status(500).send(String(err));
      res.send('connect.sid=' + encodeURIComponent('s:' + signature.sign(req.sessionID, secret)));
    });
  });
  app.get('/me', (req, res) => {
    if (!req.session.user) return res.status(401).send('not logged in');
    res.send(req.session.user);
  });
  app.use((err, req, res, next) => res.status(500).send(String(err)));
  app.listen(Number(port), '127.0.0.1', () => console.log('listening ' + port));
});
