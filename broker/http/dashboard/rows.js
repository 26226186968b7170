// Dash.dom: building elements, and updating a table in place. A poll every
// second must not rebuild what did not change: a rebuilt row loses the
// text a user selected and the tooltip under the mouse, and a rebuilt table
// can jump. syncRows keeps each row (by key) and touches only cells whose
// content changed.
'use strict';
(function (Dash) {
  const kSvgNs = 'http://www.w3.org/2000/svg';

  function fill(node, attrs, children) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  // el('td', {class: 'x', 'data-step': 'a', text: 'hello'}, child, ...)
  const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => fill(document.createElementNS(kSvgNs, tag), attrs, children);

  // Sets `attrs` on `node` and removes the ones an earlier call set that
  // `attrs` no longer has (null/undefined/false: absent).
  function setAttrs(node, attrs) {
    const before = node.__attrs || {};
    for (const key of Object.keys(before)) {
      if (attrs[key] === undefined || attrs[key] === null || attrs[key] === false) node.removeAttribute(key);
    }
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      const text = value === true ? '' : String(value);
      if (node.getAttribute(key) !== text) node.setAttribute(key, text);
    }
    node.__attrs = attrs;
  }

  // A cell is a string, or {text, title, class}, or {node: () => Element,
  // key}: a built cell content, built again only when `key` changes.
  function setCell(td, cell) {
    const spec = typeof cell === 'object' && cell !== null ? cell : {text: String(cell)};
    const key = spec.node ? 'node:' + spec.key : 'text:' + spec.text;
    if (td.__key !== key) {
      if (spec.node) td.replaceChildren(spec.node());
      else td.textContent = spec.text;
      td.__key = key;
    }
    setAttrs(td, {title: spec.title, class: spec.class});
  }

  // Makes tbody's rows those of `items`, in order: the row of an item whose
  // keyOf() was there before is kept and updated. render(item) gives
  // {attrs: {...}, cells: [...]} (attrs on the <tr>, e.g. data-worker).
  function syncRows(tbody, items, keyOf, render) {
    const old = new Map();
    for (const tr of Array.from(tbody.rows)) old.set(tr.__rowKey, tr);
    let previous = null;
    for (const item of items) {
      const key = String(keyOf(item));
      let tr = old.get(key);
      old.delete(key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.__rowKey = key;
      }
      const spec = render(item);
      setAttrs(tr, spec.attrs || {});
      while (tr.cells.length > spec.cells.length) tr.lastChild.remove();
      while (tr.cells.length < spec.cells.length) tr.append(document.createElement('td'));
      spec.cells.forEach((cell, i) => setCell(tr.cells[i], cell));
      const wanted = previous ? previous.nextSibling : tbody.firstChild;
      if (wanted !== tr) tbody.insertBefore(tr, wanted);
      previous = tr;
    }
    for (const tr of old.values()) tr.remove();
  }

  // Replaces `box`'s content with `node` only if `key` differs from the
  // last call's: a picture redrawn each second only when its data moved.
  // A box that scrolls (the graph's) keeps its place.
  function replaceIfChanged(box, key, build) {
    if (box.__key === key) return;
    box.__key = key;
    const {scrollLeft, scrollTop} = box;
    box.replaceChildren(...[].concat(build()));
    box.scrollLeft = scrollLeft;
    box.scrollTop = scrollTop;
  }

  Dash.dom = {el, svg, syncRows, replaceIfChanged};
})(window.Dash = window.Dash || {});
