// Dash.timeline: where a job's time went, as a Gantt chart in SVG. One row
// per worker lane (/api/jobs/ID's "lanes": a worker's attempts packed so
// that none overlap in a lane; about one lane per slot), labelled
// "worker / slot N"; one bar per attempt from its start to its end (to the
// broker's now while it runs), coloured by how it ended. An attempt that
// was tried again is amber; a lost one (its worker went) amber and hatched.
// Every bar is a rect.bar[data-step][data-attempt] with a <title> tooltip.
'use strict';
(function (Dash) {
  const {el, svg} = Dash.dom;
  const f = Dash.format;

  const kLabelW = 150, kRowH = 22, kBarH = 14, kAxisH = 22, kRightPad = 12;
  // Tick spacings to pick from (ms).
  const kTicks = [100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5,
                  36e5, 72e5, 144e5, 288e5, 864e5];

  // How an attempt ended, as the bar's colour: running, succeeded, failed,
  // retried (the step was queued again after it), lost, or other
  // (cancelled, killed, not run).
  function kind(a) {
    if (!a.end_ms && !a.outcome) return 'running';
    if (a.outcome === 'lost') return 'lost';
    if (a.state === 'ready' || a.state === 'queued' || a.state === 'waiting') return 'retried';
    if (a.state === 'succeeded') return 'succeeded';
    if (a.state === 'failed') return 'failed';
    return 'other';
  }

  const kKindText = {running: 'running', succeeded: 'succeeded', failed: 'failed',
                     retried: 'tried again', lost: 'lost: its worker went', other: 'ended'};

  function describe(a, stepId, t0, end) {
    const lines = [`${stepId} \u00b7 attempt ${a.attempt} \u00b7 ${kKindText[kind(a)]}`];
    if (a.outcome) lines.push(`exit ${f.exit(a)}`);
    lines.push(`${f.duration(end - a.start_ms)} on ${a.worker} / slot ${a.lane + 1}, ` +
               `from +${f.duration(a.start_ms - t0)}`);
    if (a.reason) lines.push(a.reason);
    return lines.join('\n');
  }

  // The SVG for job `job` (/api/jobs/ID's) in `width` pixels, and a note.
  function draw(job, width) {
    const now = job.now_ms;
    const attempts = (job.attempts || []).filter((a) => a.start_ms > 0);
    const unknown = (job.attempts || []).length - attempts.length;
    const rows = [];
    const rowOf = new Map();
    const addRow = (worker, lane) => {
      const key = worker + '\u0000' + lane;
      if (!rowOf.has(key)) {
        rowOf.set(key, rows.length);
        rows.push({worker, lane});
      }
      return rowOf.get(key);
    };
    for (const w of job.lanes || []) for (let l = 0; l < w.lanes; ++l) addRow(w.worker, l);
    for (const a of attempts) addRow(a.worker, a.lane);  // in case "lanes" missed one

    if (!attempts.length) {
      return {node: el('p', {class: 'empty', text: 'No attempt has started yet.'}), note: ''};
    }
    const endOf = (a) => a.end_ms || Math.max(now, a.start_ms);
    const t0 = Math.min(...attempts.map((a) => a.start_ms));
    const t1 = Math.max(...attempts.map(endOf));
    const span = Math.max(t1 - t0, 1000);
    const plotW = Math.max(160, width - kLabelW - kRightPad);
    const x = (t) => kLabelW + (t - t0) / span * plotW;
    const height = kAxisH + rows.length * kRowH + 4;
    const total = kLabelW + plotW + kRightPad;

    const defs = svg('defs', {},
        svg('pattern', {id: 'tl-hatch', patternUnits: 'userSpaceOnUse', width: 6, height: 6,
                        patternTransform: 'rotate(45)'},
            svg('rect', {width: 6, height: 6, class: 'hatch-bg'}),
            svg('line', {x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line'})));

    const grid = svg('g', {class: 'axis'});
    // A label every 70 px at most, so they never run into each other.
    const most = Math.max(2, Math.min(8, Math.floor(plotW / 70)));
    const step = kTicks.find((t) => span / t <= most) || kTicks[kTicks.length - 1];
    for (let t = 0; t <= span; t += step) {
      grid.append(svg('line', {x1: x(t0 + t), x2: x(t0 + t), y1: kAxisH - 4, y2: height}));
      // A label too near the right edge would be cut: its line says enough.
      if (x(t0 + t) + 24 <= total) {
        grid.append(svg('text', {x: x(t0 + t), y: kAxisH - 8, text: '+' + f.duration(t).replace(/\.0s$/, 's')}));
      }
    }
    const lanes = svg('g', {class: 'lanes'});
    rows.forEach((r, i) => {
      const y = kAxisH + i * kRowH;
      lanes.append(svg('g', {class: 'lane' + (i % 2 ? ' odd' : ''), 'data-worker': r.worker,
                             'data-lane': r.lane},
                       svg('rect', {x: 0, y, width: total, height: kRowH}),
                       svg('text', {x: 6, y: y + kRowH / 2, dy: '0.35em',
                                    text: `${r.worker} / slot ${r.lane + 1}`})));
    });
    const bars = svg('g', {class: 'bars'});
    for (const a of attempts) {
      const stepId = a.step_id || (job.steps[a.step] || {id: '#' + a.step}).id;
      const y = kAxisH + rowOf.get(a.worker + '\u0000' + a.lane) * kRowH + (kRowH - kBarH) / 2;
      const x0 = x(a.start_ms);
      const w = Math.max(2, x(endOf(a)) - x0);
      bars.append(svg('rect', {class: 'bar k-' + kind(a), x: x0, y, width: w, height: kBarH, rx: 2,
                               'data-step': stepId, 'data-attempt': a.attempt,
                               'data-kind': kind(a), 'data-outcome': a.outcome || null},
                      svg('title', {text: describe(a, stepId, t0, endOf(a))})));
    }
    const parts = [defs, lanes, grid, bars];
    if (job.state === 'running') {
      parts.push(svg('line', {class: 'now', x1: x(now), x2: x(now), y1: kAxisH - 4, y2: height}));
    }
    const node = svg('svg', {class: 'timeline', width: total, height,
                             viewBox: `0 0 ${total} ${height}`}, ...parts);
    const legend = el('div', {class: 'legend'});
    for (const k of ['succeeded', 'failed', 'running', 'retried', 'lost', 'other']) {
      legend.append(el('span', {class: 'key'}, el('i', {class: 'swatch k-' + k}), kKindText[k]));
    }
    const note = `${attempts.length} attempt${attempts.length === 1 ? '' : 's'} on ${rows.length} ` +
        `lane${rows.length === 1 ? '' : 's'}` + (unknown ? `; ${unknown} without times, not shown` : '');
    return {node: [node, legend], note};
  }

  Dash.timeline = {draw, kind};
})(window.Dash = window.Dash || {});
