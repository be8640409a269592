'use strict';
// An inventory service: JSON endpoints routed by tiny-route, the dependency
// npm installs from vendor/. Every answer is deterministic for a request.
const http = require('http');
const Router = require('tiny-route');

const items = {
  widget: { name: 'widget', price: 250, stock: 12 },
  gadget: { name: 'gadget', price: 1999, stock: 3 },
  doohickey: { name: 'doohickey', price: 75, stock: 0 },
};

const router = Router();
router.get('/', (req, res) => res.text(200, 'node-web inventory: ' + Object.keys(items).length + ' items\n'));
router.get('/api/status', (req, res) =>
  res.json(200, { status: 'ok', service: 'node-web', node: process.versions.node.split('.')[0], router: Router.version }));
router.get('/api/items', (req, res) => res.json(200, Object.keys(items).sort()));
router.get('/api/items/:name', (req, res) => {
  const it = items[req.params.name];
  if (!it) return res.json(404, { error: 'no such item', name: req.params.name });
  const qty = Number(req.query.qty || 1);
  res.json(200, { ...it, qty, total: (it.price * qty / 100).toFixed(2), available: it.stock >= qty });
});

const port = Number(process.env.PORT || 3000);
const server = http.createServer(router.handler());
server.listen(port, '0.0.0.0', () => console.log(`node-web listening on ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
