'use strict';
// tiny-route: match "METHOD /path/:param" patterns, answer with JSON or text.
const { compile } = require('./pattern');

function Router() {
  if (!(this instanceof Router)) return new Router();
  this.routes = [];
}

Router.prototype.add = function (method, pattern, handler) {
  this.routes.push({ method: method.toUpperCase(), match: compile(pattern), handler });
  return this;
};
Router.prototype.get = function (pattern, handler) { return this.add('GET', pattern, handler); };
Router.prototype.post = function (pattern, handler) { return this.add('POST', pattern, handler); };

// The request listener for http.createServer.
Router.prototype.handler = function () {
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    res.json = (status, body) => send(res, status, 'application/json', JSON.stringify(body) + '\n');
    res.text = (status, body) => send(res, status, 'text/plain; charset=utf-8', body);
    for (const r of this.routes) {
      if (r.method !== req.method) continue;
      const params = r.match(url.pathname);
      if (params) {
        req.params = params;
        req.query = Object.fromEntries(url.searchParams);
        return r.handler(req, res);
      }
    }
    res.json(404, { error: 'not found', path: url.pathname });
  };
};

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

module.exports = Router;
module.exports.Router = Router;
module.exports.version = require('../package.json').version;
