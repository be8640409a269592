'use strict';
// "/users/:id" -> function(path) returning { id } or null
function compile(pattern) {
  const parts = pattern.split('/').filter(Boolean);
  return function match(path) {
    const segs = path.split('/').filter(Boolean);
    if (segs.length !== parts.length) return null;
    const params = {};
    for (let i = 0; i < parts.length; i++) {
      if (parts[i].startsWith(':')) params[parts[i].slice(1)] = decodeURIComponent(segs[i]);
      else if (parts[i] !== segs[i]) return null;
    }
    return params;
  };
}
module.exports = { compile };
