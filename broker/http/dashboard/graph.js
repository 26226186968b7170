// Dash.graph: a job's steps as a layered graph, drawn as SVG. Columns are
// ranks, left to right: a step's rank is the longest path to it from a step
// that follows nothing, so every edge points right. Within a column, steps
// sit near the mean position of the steps they follow (a few barycenter
// sweeps, the usual cheap way to uncross most edges).
//
// Past kMaxNodes steps a node per step is unreadable and slow to draw, so
// the graph collapses to one node per rank with its steps' counts by state.
'use strict';
(function (Dash) {
  const {svg} = Dash.dom;
  const f = Dash.format;

  const kMaxNodes = 200;
  const kNodeW = 156, kNodeH = 24, kGapX = 48, kGapY = 8, kPad = 6;
  const kRankNodeH = 40, kMaxRankNodes = 40;

  // {rank: [per step], columns: [[step index, ...] per rank, in drawing
  // order]}. `after` lists are indexes into steps; a cycle (the broker
  // refuses those) would leave its steps at rank 0 rather than hang.
  function layout(steps) {
    const n = steps.length;
    const children = steps.map(() => []);
    const indegree = new Array(n).fill(0);
    steps.forEach((s, i) => {
      for (const p of s.after || []) {
        if (p >= 0 && p < n && p !== i) {
          children[p].push(i);
          indegree[i]++;
        }
      }
    });
    const rank = new Array(n).fill(0);
    const queue = [];
    indegree.forEach((d, i) => { if (d === 0) queue.push(i); });
    for (let head = 0; head < queue.length; ++head) {
      const v = queue[head];
      for (const c of children[v]) {
        rank[c] = Math.max(rank[c], rank[v] + 1);
        if (--indegree[c] === 0) queue.push(c);
      }
    }
    const columns = [];
    rank.forEach((r, i) => (columns[r] = columns[r] || []).push(i));
    for (let r = 0; r < columns.length; ++r) columns[r] = columns[r] || [];

    // Barycenter sweeps: down by the steps followed, up by the followers.
    const order = new Array(n).fill(0);
    const number = () => columns.forEach((col) => col.forEach((v, k) => (order[v] = k)));
    const sortBy = (col, neighbours) => {
      const key = new Map(col.map((v) => {
        const ns = neighbours(v);
        return [v, ns.length ? ns.reduce((a, u) => a + order[u], 0) / ns.length : order[v]];
      }));
      col.sort((a, b) => key.get(a) - key.get(b) || a - b);
    };
    number();
    for (let sweep = 0; sweep < 2; ++sweep) {
      for (let r = 1; r < columns.length; ++r) sortBy(columns[r], (v) => steps[v].after || []);
      number();
      for (let r = columns.length - 2; r >= 0; --r) sortBy(columns[r], (v) => children[v]);
      number();
    }
    return {rank, columns};
  }

  function edgePath(x1, y1, x2, y2) {
    const mid = (x1 + x2) / 2;
    return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
  }

  function truncate(text, max) {
    return text.length <= max ? text : text.slice(0, max - 1) + '\u2026';
  }

  function stepTitle(s) {
    let t = `${s.id}: ${s.state}`;
    if (s.attempts) t += `, ${s.attempts} attempt${s.attempts > 1 ? 's' : ''}`;
    if (s.worker) t += `, on ${s.worker}`;
    if (s.outcome) t += `, exit ${f.exit(s)}`;
    if (s.reason) t += `\n${s.reason}`;
    return t;
  }

  function drawSteps(steps) {
    const {columns} = layout(steps);
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    const height = kPad * 2 + tallest * (kNodeH + kGapY) - kGapY;
    const width = kPad * 2 + columns.length * (kNodeW + kGapX) - kGapX;
    const at = [];
    columns.forEach((col, r) => {
      const top = kPad + (tallest - col.length) * (kNodeH + kGapY) / 2;
      col.forEach((v, k) => (at[v] = {x: kPad + r * (kNodeW + kGapX), y: top + k * (kNodeH + kGapY)}));
    });
    const edges = svg('g', {class: 'edges'});
    steps.forEach((s, i) => {
      for (const p of s.after || []) {
        if (!at[p] || p === i) continue;
        edges.append(svg('path', {d: edgePath(at[p].x + kNodeW, at[p].y + kNodeH / 2,
                                              at[i].x, at[i].y + kNodeH / 2),
                                  'data-from': steps[p].id, 'data-to': s.id}));
      }
    });
    const nodes = svg('g', {class: 'nodes'});
    steps.forEach((s, i) => {
      const tries = s.attempts > 1 ? ` \u00d7${s.attempts}` : '';
      nodes.append(svg('g', {class: `node s-${f.stateClass(s.state)}${s.cleanup ? ' cleanup' : ''}`,
                             'data-step': s.id, 'data-state': s.state,
                             transform: `translate(${at[i].x},${at[i].y})`},
                       svg('title', {text: stepTitle(s)}),
                       svg('rect', {width: kNodeW, height: kNodeH, rx: 4}),
                       svg('text', {x: 8, y: kNodeH / 2, dy: '0.35em',
                                    text: truncate(s.id, 22 - tries.length) + tries})));
    });
    return svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`, class: 'graph'}, edges, nodes);
  }

  // One node per rank (per band of ranks past kMaxRankNodes of them, so a
  // long chain stays a screen or two wide): how many steps, and a bar of
  // their states.
  function drawRanks(steps) {
    const {columns} = layout(steps);
    const band = Math.ceil(columns.length / kMaxRankNodes);
    const groups = [];
    for (let r = 0; r < columns.length; r += band) {
      const last = Math.min(columns.length, r + band) - 1;
      groups.push({name: last > r ? `ranks ${r}\u2013${last}` : `rank ${r}`, rank: r,
                   members: columns.slice(r, last + 1).flat()});
    }
    const kParts = ['done', 'running', 'queued', 'failed', 'skipped'];
    const width = kPad * 2 + groups.length * (kNodeW + kGapX) - kGapX;
    const height = kPad * 2 + kRankNodeH;
    // Every step past rank 0 follows one a rank before it (ranks are longest
    // paths), so an arrow between neighbouring boxes says all that fits here.
    const edges = svg('g', {class: 'edges'});
    const y = kPad + kRankNodeH / 2;
    for (let k = 1; k < groups.length; ++k) {
      const x = kPad + k * (kNodeW + kGapX);
      edges.append(svg('path', {d: `M${x - kGapX},${y} L${x},${y}`}));
    }
    const nodes = svg('g', {class: 'nodes'});
    groups.forEach((group, k) => {
      const counts = {};
      for (const v of group.members) counts[steps[v].state] = (counts[steps[v].state] || 0) + 1;
      const p = f.progress(counts);
      const size = group.members.length;
      const g = svg('g', {class: 'node rank', 'data-rank': group.rank,
                          transform: `translate(${kPad + k * (kNodeW + kGapX)},${kPad})`},
                    svg('title', {text: `${group.name}: ${size} steps\n${f.counts(counts)}`}),
                    svg('rect', {width: kNodeW, height: kRankNodeH, rx: 4}),
                    svg('text', {x: 8, y: 15, text: `${group.name} \u00b7 ${size}`}));
      let x = 8;
      for (const part of kParts) {
        const w = (kNodeW - 16) * p[part] / size;
        if (w > 0) g.append(svg('rect', {class: 'seg-' + part, x, y: 24, width: w, height: 8}));
        x += w;
      }
      nodes.append(g);
    });
    return svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`, class: 'graph'}, edges, nodes);
  }

  // The SVG for `steps` (/api/jobs/ID's), and a note for the heading.
  function draw(steps) {
    if (steps.length > kMaxNodes) {
      return {node: drawRanks(steps),
              note: `${steps.length} steps: one box per rank (more than ${kMaxNodes} steps)`};
    }
    return {node: drawSteps(steps), note: ''};
  }

  Dash.graph = {layout, draw, kMaxNodes};
})(window.Dash = window.Dash || {});
